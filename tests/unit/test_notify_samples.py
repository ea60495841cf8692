"""The samples notify previews templates with (and checks saves against) have the shape
of what the producers really send: the alert sample is an ``alert_raised`` message as
the contract defines it, and each case kind's sample has every field the cases
service's own builders put in that kind's ``notification_requested`` context, built here
from a case as the intake opens it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from contracts.messages import NOTIFICATION_KINDS, schema_of
from services.cases import messages, sla
from services.notify.samples import ALERT_MESSAGE, SAMPLES
from tests.unit.case_samples import MONDAY_10, case

URL = "http://127.0.0.1:8000"


def paths(value, prefix: str = "", depth: int = 2) -> set[str]:
    """Dotted key paths of nested dicts, ``depth`` levels down (lists are leaves)."""
    if not isinstance(value, dict) or depth == 0:
        return set()
    out = set()
    for key, inner in value.items():
        path = f"{prefix}{key}"
        out |= {path} | paths(inner, path + ".", depth - 1)
    return out


def produced(kind: str) -> dict:
    """The context the cases service's own builders give ``kind`` (notification_requested)."""
    found = case()
    found["customer"] = {"id": "C1", "name": "张三", "tier": "vip"}
    found["event"] = {
        "source": "survey-app",
        "event_id": "e1",
        "channel": "wechat",
        "touchpoint": "delivery",
        "scores": {"nps": 2},
        "occurred_at": "2026-11-20T02:15:00+00:00",
        "text": "慢",
    }
    who = {"kind": "person", "id": "li.na"}
    build = {
        "case_assigned": lambda: messages.notification(
            found, who, kind, "t", now=MONDAY_10, console_url=URL, reason="rule owner", by="system"
        ),
        "case_update": lambda: messages.notification(
            found,
            who,
            kind,
            "t",
            now=MONDAY_10,
            console_url=URL,
            update="collaborator_added",
            by="li.na",
            role="安装",
            reason="on site",
        ),
        "escalation_step": lambda: messages.escalation_step(
            {"_id": "s", "round": 0, "index": 1, "step": {"notify": "team_lead", "after_minutes": 30}},
            found,
            who,
            now=MONDAY_10,
            console_url=URL,
        ),
        "sla_warning": lambda: {
            **messages.notification(found, who, kind, "t", now=MONDAY_10, console_url=URL),
            "context": {
                **messages.notification(found, who, kind, "t", now=MONDAY_10, console_url=URL)["context"],
                "sla": sla.decide_warning(
                    found,
                    "acknowledge",
                    found["sla"]["clocks"]["acknowledge"]["due"] - timedelta(minutes=5),
                    lambda: False,
                ).sla,
            },
        },
    }
    return build[kind]()["context"]


def test_the_alert_sample_is_an_alert_raised_message_as_the_contract_defines_it():
    assert schema_of("alert_raised").validate(ALERT_MESSAGE) == {}
    assert {k: SAMPLES["alert_raised"][k] for k in ALERT_MESSAGE} == ALERT_MESSAGE


@pytest.mark.parametrize("kind", ["case_assigned", "case_update", "escalation_step", "sla_warning"])
def test_each_case_sample_has_every_field_the_cases_service_sends(kind):
    context = produced(kind)
    missing = paths(context) - paths(SAMPLES[kind])
    assert missing == set(), f"{kind}: the sample lacks {sorted(missing)}"


def test_every_kind_has_a_sample():
    assert set(SAMPLES) == set(NOTIFICATION_KINDS)
    json.dumps(SAMPLES)  # plain JSON, as the context arrives
