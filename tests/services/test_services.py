"""Service-layer tests: each service class through nameko's worker_factory.

Stores are the real domain stores on a fresh database; the event dispatcher is
replaced by a mock so each test can read what the service announced.
"""

from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory

from contracts.feedback import parse_feedback
from services.alerts.service import AlertsService
from services.alerts.store import AlertStore
from services.cases.service import CasesService
from services.cases.store import CaseStore
from services.common.errors import BadRequest, NotFound
from services.common.messaging import serialize
from services.notify.channels.email import SmtpConfig
from services.notify.delivery import Policy, default_channels
from services.notify.render import Renderer
from services.notify.service import NotifyService
from services.notify.store import NotifyStore
from services.profiles.service import ProfilesService
from services.profiles.store import ProfileStore

RULE = {
    "id": "detractor",
    "name": "NPS 贬损者",
    "level": "P2",
    "owner": {"kind": "person", "id": "li.na"},
    "channels": ["email"],
    "when": {"field": "scores.nps", "op": "lte", "value": 6},
}


def event(event_id="e1", nps=3, at="2026-11-20T10:00:00+08:00", **customer):
    return parse_feedback(
        {
            "schema_version": 1,
            "event_id": event_id,
            "source": "app",
            "occurred_at": at,
            "customer": {"id": "C1", "name": "张三", **customer},
            "channel": "app",
            "scores": {"nps": nps},
            "text": "不满意",
        }
    )


def dispatched(worker, event_type):
    return [c.args[1] for c in worker.dispatch.call_args_list if c.args[0] == event_type]


def store(cls, mongo_client, db_prefix, name):
    s = cls(mongo_client[f"{db_prefix}{name}"])
    s.ensure_indexes()
    return s


@pytest.fixture
def alerts(mongo_client, db_prefix):
    worker = worker_factory(AlertsService, store=store(AlertStore, mongo_client, db_prefix, "alerts"))
    worker.apply_rules({"rules": [RULE]})
    return worker


def test_alerts_raise_once_per_event_and_announce_a_valid_message(alerts):
    alerts.handle_feedback([event()])
    alerts.handle_feedback([event()])  # redelivery
    alerts.handle_feedback([event(event_id="e2", nps=9)])
    [message] = dispatched(alerts, "alert_raised")
    serialize("alert_raised", message)  # the contract holds
    assert message["rule"]["version"] == 1 and message["customer"]["id"] == "C1"
    assert alerts.stats()["alerts"] == 1 and alerts.stats()["events_evaluated"] == 2


def test_alerts_rule_versions_and_validation_errors(alerts):
    assert alerts.apply_rules([RULE]) == {"created": [], "updated": [], "unchanged": ["detractor"]}
    assert alerts.apply_rules([dict(RULE, level="P1")])["updated"] == ["detractor@v2"]
    [rule] = alerts.list_rules()
    assert rule["version"] == 2 and rule["level"] == "P1"
    assert [v["version"] for v in alerts.store.rules.rule_versions("detractor")] == [1, 2]
    with pytest.raises(BadRequest) as info:
        alerts.apply_rules([dict(RULE, when={"field": "x", "op": "??"})])
    assert info.value.errors[0].startswith("rules.0.when.op")
    with pytest.raises(NotFound):
        alerts.get_alert("AL-nope")


def alert_message(owner=None, alert_id="AL-1"):
    return {
        "alert_id": alert_id,
        "raised_at": datetime(2026, 11, 20, tzinfo=UTC),
        "level": "P2",
        "rule": {"id": "detractor", "version": 1, "name": "NPS 贬损者"},
        "owner": owner or {"kind": "person", "id": "li.na"},
        "channels": ["email"],
        "customer": {"id": "C1", "name": "张三"},
        "event": {
            "source": "app",
            "event_id": "e1",
            "channel": "app",
            "occurred_at": datetime(2026, 11, 20, tzinfo=UTC),
            "scores": {"nps": 3},
        },
        "trace": [{"field": "scores.nps", "op": "lte", "value": 6, "actual": 3, "result": True}],
    }


def test_cases_open_assign_and_request_a_notification_once(mongo_client, db_prefix):
    worker = worker_factory(CasesService, store=store(CaseStore, mongo_client, db_prefix, "c"))
    worker.handle_alert_raised([alert_message()])
    worker.handle_alert_raised([alert_message()])
    [opened] = dispatched(worker, "case_opened")
    [assigned] = dispatched(worker, "case_assigned")
    [request] = dispatched(worker, "notification_requested")
    for name, payload in (
        ("case_opened", opened),
        ("case_assigned", assigned),
        ("notification_requested", request),
    ):
        serialize(name, payload)
    assert assigned["assignee"] == {"kind": "person", "id": "li.na"}
    assert request["recipient"] == assigned["assignee"] and request["kind"] == "case_assigned"
    assert request["context"]["case_url"].endswith(f"/cases/{opened['case_id']}")
    case = worker.get_case(opened["case_id"])
    assert case["status"] == "assigned"
    assert [a["action"] for a in case["audit"]] == ["opened", "assigned"]


def test_cases_with_a_strategy_owner_stay_open_and_unassigned(mongo_client, db_prefix):
    worker = worker_factory(CasesService, store=store(CaseStore, mongo_client, db_prefix, "c"))
    worker.handle_alert_raised([alert_message(owner={"kind": "strategy", "id": "round-robin"})])
    [case] = worker.list_cases()
    assert case["status"] == "open" and case["assignee"] is None
    assert dispatched(worker, "notification_requested") == []


def test_profiles_latest_wins_and_replays_change_nothing(mongo_client, db_prefix):
    worker = worker_factory(ProfilesService, store=store(ProfileStore, mongo_client, db_prefix, "p"))
    worker.handle_feedback([event("e2", nps=8, at="2026-11-21T10:00:00+08:00", name="张三丰")])
    worker.handle_feedback([event("e1", nps=2, at="2026-11-20T10:00:00+08:00", name="张三")])
    worker.handle_feedback([event("e1", nps=2, at="2026-11-20T10:00:00+08:00", name="张三")])
    p = worker.get_profile("C1")
    assert p["feedback_count"] == 2
    assert p["latest"]["nps"]["value"] == 8  # the older event arrived later
    assert p["identity"]["name"] == "张三丰"
    assert p["first_contact"]["event_id"] == "e1" and p["last_contact"]["event_id"] == "e2"
    assert len(dispatched(worker, "profile_updated")) == 2
    with pytest.raises(NotFound):
        worker.get_profile("nobody")


@pytest.fixture
def notify(mongo_client, db_prefix, smtp_sink):
    worker = worker_factory(
        NotifyService,
        store=store(NotifyStore, mongo_client, db_prefix, "n"),
        templates=Renderer(),
        channels=default_channels(
            {"smtp": SmtpConfig(host="127.0.0.1", port=smtp_sink.port, sender="cx@example.com")}
        ),
        policy=Policy(fallback={"wecom": "email"}),
    )
    worker.apply_recipients(
        {
            "people": [
                {"id": "li.na", "name": "李娜", "email": "li.na@example.com"},
                {"id": "emma", "name": "Emma", "email": "emma@example.com", "language": "en"},
                {"id": "nomail", "name": "无邮箱"},
            ],
            "teams": [{"id": "care", "name": "Care", "members": ["li.na", "emma"]}],
        }
    )
    return worker


def request(recipient, notification_id="n1", channels=("email",)):
    return {
        "notification_id": notification_id,
        "requested_at": datetime.now(UTC),
        "kind": "case_assigned",
        "recipient": recipient,
        "channels": list(channels),
        "level": "P2",
        "case_id": "CASE-1",
        "context": {
            "case_id": "CASE-1",
            "case_url": "http://c/cases/CASE-1",
            "title": "NPS 贬损者 · 张三",
            "level": "P2",
            "status": "assigned",
            "rule": {"id": "r", "version": 1, "name": "NPS 贬损者"},
            "customer": {"id": "C1", "name": "张三"},
            "event": {"channel": "app", "occurred_at": "2026-11-20T02:00:00+00:00"},
            "trace": [],
            "assignee": recipient,
            "opened_at": "2026-11-20",
        },
    }


def test_notify_team_members_each_get_mail_in_their_language_once(notify, smtp_sink):
    notify.handle_notification_requested([request({"kind": "team", "id": "care"})])
    notify.handle_notification_requested([request({"kind": "team", "id": "care"})])
    mails = {m["To"]: m for m in smtp_sink.messages()}
    assert set(mails) == {"li.na@example.com", "emma@example.com"}
    assert mails["li.na@example.com"]["Content-Language"] == "zh-CN"
    assert mails["emma@example.com"]["Subject"].startswith("[P2 high]")
    outcomes = dispatched(notify, "notification_delivered")
    assert sorted(o["status"] for o in outcomes) == ["delivered", "delivered"]
    for o in outcomes:
        serialize("notification_delivered", o)


def test_notify_permanent_failures_are_logged_and_announced(notify, smtp_sink):
    notify.handle_notification_requested([request({"kind": "person", "id": "ghost"}, "n2")])
    notify.handle_notification_requested([request({"kind": "person", "id": "nomail"}, "n3")])
    notify.handle_notification_requested(
        [request({"kind": "person", "id": "li.na"}, "n4", channels=("email", "wecom"))]
    )
    failed = {
        d["notification_id"] + "/" + d["channel"]: d["last_error"]
        for d in notify.list_deliveries(status="failed")
    }
    assert failed == {
        "n2/email": "unknown recipient person ghost",
        "n3/email": "no email address",
        "n4/wecom": "no wecom webhook",
    }
    # n4 by email still went out, once: no fallback mail on top of it
    assert len(smtp_sink.messages()) == 1
    assert notify.stats()["counters"]["permanent_failures"] == 3


def test_notify_rejects_an_invalid_directory_naming_the_field(notify):
    with pytest.raises(BadRequest) as info:
        notify.apply_recipients(
            {
                "people": [{"id": "x", "name": "X", "email": "not-an-email"}],
                "teams": [{"id": "t", "name": "T", "members": ["y"]}],
            }
        )
    assert "people.0.email: Not a valid email address." in info.value.errors
    assert "teams.0.members: unknown people: y" in info.value.errors


@pytest.mark.parametrize(
    "paging, message",
    [
        ({"skip": -1}, "skip: must be an integer from 0 to 10000000"),
        ({"limit": 0}, "limit: must be an integer from 1 to 10000000"),
        ({"limit": -5}, "limit: must be an integer from 1 to 10000000"),
        ({"limit": "10"}, "limit: must be an integer from 1 to 10000000"),
        ({"skip": True}, "skip: must be an integer from 0 to 10000000"),
    ],
)
def test_list_alerts_and_deliveries_name_a_bad_page_argument(alerts, notify, paging, message):
    # pymongo reads a negative skip as an error and a limit of 0 as "no limit":
    # both are refused before any query, naming the argument
    for listing in (alerts.list_alerts, notify.list_deliveries):
        with pytest.raises(BadRequest, match=f"^{message}$"):
            listing(**paging)


def test_list_pages_bigger_than_500_are_cut(alerts):
    for n in range(3):
        alerts.handle_feedback([event(event_id=f"e{n}", id=f"C{n}")])
    assert len(alerts.list_alerts(limit=10**6)) == 3
    assert len(alerts.list_alerts(limit=2, skip=2)) == 1
