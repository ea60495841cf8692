"""Phone numbers and e-mail addresses are masked in the real services' logs.

The services run with every logger at DEBUG, which includes the database
driver's command log: it prints each stored document (profiles with phones and
addresses, deliveries to mailboxes), the most talkative place personal data
reaches a log. Feedback carrying phones and addresses in every field flows
through alerts, profiles, cases and notify; afterwards no raw phone number or
address is in any record, and their masked forms are (so they did pass through).
"""

from __future__ import annotations

import json
import logging

import pytest
from nameko import config
from nameko.standalone.rpc import ClusterRpcClient

from cxctl.publish import FeedbackPublisher
from services.alerts.service import AlertsService
from services.cases.service import CasesService
from services.common.privacy import MaskedLogs
from services.notify.service import NotifyService
from services.profiles.service import ProfilesService
from tests.conftest import wait_until
from tests.e2e.gateway_stack import RECIPIENTS, RULES, feedback
from tests.security.inventory import service_classes

RAW = {
    "13800138000": "138****8000",
    "+86 139-1234-5678": "+86 139****5678",
    "13912345678": "139****5678",
    "+44 20 7946 0958": "+** ** **** 0958",
    "wang.fang@example.com": "w***@example.com",
    "li.lei@example.org": "l***@example.org",
    "chen.jie@example.com": "c***@example.com",
}


def test_every_service_masks_its_logs():
    for cls in service_classes():
        declared = [v for v in vars(cls).values() if isinstance(v, MaskedLogs)]
        assert declared, f"{cls.__name__} does not declare MaskedLogs()"


@pytest.fixture
def stack(cx_config, runner_factory, caplog):
    caplog.set_level(logging.DEBUG)
    runner = runner_factory(AlertsService, CasesService, ProfilesService, NotifyService)
    runner.start()
    with ClusterRpcClient(timeout=15) as rpc:
        rpc.alerts.apply_rules(RULES)
        rpc.notify.apply_recipients(RECIPIENTS)
        yield rpc


def test_phones_and_addresses_are_masked_in_real_service_logs(stack, cx_config, smtp_sink, caplog):
    events = [
        {
            **feedback("pii-1", nps=1, text="请回电13912345678，或发邮件到 li.lei@example.org 我要退款"),
            "customer": {"id": "C900", "phone": "13800138000", "email": "wang.fang@example.com"},
        },
        {
            **feedback("pii-2", nps=2, text="call me on +44 20 7946 0958"),
            "customer": {"id": "C901", "phone": "+86 139-1234-5678"},
        },
    ]
    with FeedbackPublisher(config["AMQP_URI"]) as publisher:
        for event in events:
            publisher.publish(json.dumps(event, ensure_ascii=False))
    wait_until(lambda: len(smtp_sink.messages()) >= 2, timeout=60, message="the owners' emails")
    assert stack.profiles.get_profile("C900")["identity"]["phone"] == "13800138000"  # stored as given

    text = caplog.text + "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "Command started" in text  # the driver's command log was captured
    leaked = [raw for raw in RAW if raw in text]
    assert leaked == []
    masked = [shown for shown in RAW.values() if shown in text]
    assert len(masked) >= 5, masked  # the values did reach the logs, masked
