"""The ten example rules of docs/rules.md work with the samples, end to end.

The rule block is applied through the alerts service (the real rule loader), one
customer's feedback raises each rule through the real engine, every ``alert_raised``
goes over its contract to the cases service holding ``samples/agents.yaml``, and
every case it opens must be assigned to an owner of that directory; the assignment
notification must reach a person by email through notify holding
``samples/recipients.yaml``. An owner the samples do not define (a strategy, a team)
leaves the case unassigned in the queue, or notifies nobody: this test says which.
"""

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from nameko.testing.services import worker_factory

from contracts.feedback import parse_feedback
from contracts.messages import schema_of
from services.alerts.service import AlertsService
from services.alerts.store import AlertStore
from services.common.messaging import serialize
from services.notify.channels.email import SmtpConfig
from services.notify.delivery import default_channels
from services.notify.render import Renderer
from services.notify.service import NotifyService
from services.notify.store import NotifyStore
from tests.services.cases_desk import make_desk
from tests.unit.test_docs_rules import doc_rule_set
from textanalysis import text as textmod

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def feedback(customer, n, day, text=None, *, tier="standard", region="华北", **fields):
    """A feedback event as an integration sends it (contract v1), 10:0n Beijing time."""
    body = {
        "schema_version": 1,
        "event_id": f"{customer}-{n}",
        "source": "survey-app",
        "occurred_at": f"2026-11-{day:02d}T10:{n:02d}:00+08:00",
        "customer": {"id": customer, "name": "张三", "tier": tier, "attributes": {"region": region}},
        "channel": "app",
        **fields,
    }
    if text is not None:
        body["text"] = text
    return body


# For each documented rule, one customer's feedback (oldest first) whose last event raises it.
TRIGGERS = {
    "complaint-wording": [feedback("D01", 1, 20, "再不处理我就打12315投诉")],
    "repeat-complainer": [
        feedback("D02", 1, 14, "送货太慢了，非常失望", scores={"nps": 3}),
        feedback("D02", 2, 16, "客服态度很差，问题一直没解决", scores={"nps": 2}),
        feedback("D02", 3, 19, "安装师傅态度很差，太失望了", scores={"nps": 1}),
    ],
    "nps-sharp-drop": [
        feedback("D03", 1, 1, scores={"nps": 9}),
        feedback("D03", 2, 8, scores={"nps": 10}),
        feedback("D03", 3, 15, scores={"nps": 9}),
        feedback("D03", 4, 20, scores={"nps": 2}),
    ],
    "vip-detractor": [feedback("D04", 1, 20, "一般", tier="vip", scores={"csat": 1})],
    "bad-first-impression": [feedback("D05", 1, 20, "第一次用就很失望", scores={"nps": 2})],
    "delivery-install-trouble": [feedback("D06", 1, 20, "安装师傅迟到了4个小时", touchpoint="installation")],
    "unexpected-charges": [feedback("D07", 1, 20, "安装师傅收了58元的材料费", touchpoint="billing")],
    "hotline-effort": [feedback("D08", 1, 20, "客服电话打不通", channel="phone")],
    "product-suggestion": [feedback("D09", 1, 20, "不是投诉，只是建议说明书写简单点")],
    "churn-threat-east": [feedback("D10", 1, 20, "再掉线我就销户", region="华东")],
}


@pytest.fixture
def alerts(mongo_client, db_prefix):
    store = AlertStore(mongo_client[f"{db_prefix}alerts"])
    store.ensure_indexes()
    # the shipped lexicon's analyzer in place of the replica's live one (LiveLexicon)
    return worker_factory(AlertsService, store=store, text=SimpleNamespace(analyzer=textmod.current()))


@pytest.fixture
def cases(mongo_client, db_prefix):
    return make_desk(mongo_client[f"{db_prefix}cases"], NOW)


@pytest.fixture
def notify(mongo_client, db_prefix):
    store = NotifyStore(mongo_client[f"{db_prefix}notify"])
    store.ensure_indexes()
    # simulate renders and addresses, it never connects: no SMTP server is needed
    channels = default_channels({"smtp": SmtpConfig(host="127.0.0.1", port=25), "timeout": 5})
    worker = worker_factory(NotifyService, store=store, templates=Renderer(), channels=channels)
    worker.apply_recipients(yaml.safe_load((SAMPLES / "recipients.yaml").read_text("utf-8")))
    return worker


def sent(worker, event_type):
    """What the worker dispatched, as the consuming service receives it (over the contract)."""
    schema = schema_of(event_type)
    return [
        schema.load(serialize(event_type, call.args[1]))
        for call in worker.dispatch.call_args_list
        if call.args[0] == event_type
    ]


def test_every_documented_rule_raises_and_its_cases_are_assigned_to_sample_owners(alerts, cases, notify):
    rules = doc_rule_set()["rules"]
    assert sorted(r["id"] for r in rules) == sorted(TRIGGERS)  # a new example needs a trigger here
    applied = alerts.apply_rules(doc_rule_set(), actor="docs")
    assert sorted(applied["created"]) == sorted(f"{rule_id}@v1" for rule_id in TRIGGERS), applied

    for events in TRIGGERS.values():  # one delivered batch per customer, oldest first
        alerts.handle_feedback([parse_feedback(body) for body in events])
    raised = sent(alerts, "alert_raised")
    for rule_id, events in TRIGGERS.items():
        customer = events[-1]["customer"]["id"]
        assert any(a["rule"]["id"] == rule_id and a["customer"]["id"] == customer for a in raised), rule_id

    for alert in raised:
        cases.handle_alert_raised([alert])
    directory = cases.list_agents()
    known = {("person", a["id"]) for a in directory["agents"]}
    known |= {("team", t["id"]) for t in directory["teams"]}
    by_alert = {c["alert_id"]: c for c in cases.list_cases(limit=500)}
    owners = {f"{a['rule']['id']} {a['customer']['id']}": by_alert[a["alert_id"]] for a in raised}
    strays = {
        key: (case["status"], case["assignee"])
        for key, case in owners.items()
        if case["status"] != "assigned" or (case["assignee"]["kind"], case["assignee"]["id"]) not in known
    }
    assert strays == {}, f"cases not assigned to an owner of samples/agents.yaml: {strays}"

    told = [n for n in sent(cases, "notification_requested") if n["kind"] == "case_assigned"]
    assert {n["case_id"] for n in told} == {c["_id"] for c in by_alert.values()}
    for request in told:
        rows = notify.simulate(serialize("notification_requested", request), NOW.isoformat())
        mail = [r for r in rows if r["channel"] == "email"]
        assert mail and all(r["error"] is None and r["subject"] for r in mail), (request["recipient"], mail)
        assert all(r["recipient"]["kind"] == "person" for r in mail)
