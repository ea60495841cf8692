"""notify.simulate on a real store with real receivers: it reports routing, quiet
hours, rendering and truncation as the pipeline would do them, and changes nothing."""

from datetime import UTC, datetime

import pytest
from nameko.testing.services import worker_factory

from services.common.errors import BadRequest
from services.notify.channels.dingtalk.fake import FakeDingTalk
from services.notify.channels.email import SmtpConfig
from services.notify.channels.slack.fake import FakeSlack
from services.notify.channels.wecom.fake import FakeWeCom
from services.notify.delivery import Pipeline, Policy, default_channels
from services.notify.directory import load_directory
from services.notify.render import Renderer
from services.notify.service import NotifyService
from services.notify.simulate import simulate
from services.notify.store import NotifyStore

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai, 15:00 in London


@pytest.fixture
def robots():
    with (
        FakeDingTalk(clock=lambda: NOW.timestamp()) as dingtalk,
        FakeWeCom(clock=lambda: NOW.timestamp()) as wecom,
        FakeSlack() as slack,
    ):
        yield {"dingtalk": dingtalk, "wecom": wecom, "slack": slack}


@pytest.fixture
def store(mongo_client, db_prefix, robots):
    s = NotifyStore(mongo_client[f"{db_prefix}notify"])
    s.ensure_indexes()
    people = [
        {
            "id": "li.na",
            "name": "李娜",
            "email": "li.na@example.com",
            "handles": {"wecom": {"user_id": "lina"}},
            "quiet_hours": {"start": "22:00", "end": "08:00"},
        },
        {
            "id": "emma",
            "name": "Emma",
            "email": "emma@example.com",
            "language": "en",
            "timezone": "Europe/London",
            "quiet_hours": {"start": "22:00", "end": "08:00"},
            "handles": {"slack": {"webhook": robots["slack"].webhook, "user_id": "U1"}},
        },
    ]
    team = {
        "id": "care",
        "name": "Care",
        "members": ["li.na", "emma"],
        "handles": {"wecom": {"webhook": robots["wecom"].webhook}},
    }
    s.apply_directory(load_directory({"people": people, "teams": [team]}))
    return s


@pytest.fixture
def notify(store, smtp_sink):
    channels = default_channels(
        {"smtp": SmtpConfig(host="127.0.0.1", port=smtp_sink.port, sender="cx@example.com"), "timeout": 5}
    )
    policy = Policy(fallback={"slack": "email", "wecom": "email"})
    return worker_factory(NotifyService, store=store, templates=Renderer(), channels=channels, policy=policy)


def request(recipient, channels, level="P2", steps=1):
    return {
        "notification_id": "n-sim",
        "requested_at": NOW.isoformat(),
        "kind": "case_assigned",
        "recipient": recipient,
        "channels": channels,
        "level": level,
        "case_id": "CASE-1",
        "context": {
            "case_id": "CASE-1",
            "case_url": "http://console/cases/CASE-1",
            "title": "NPS 贬损者 · 张三",
            "level": level,
            "rule": {"id": "r", "version": 1, "name": "NPS 贬损者"},
            "customer": {"id": "C1", "name": "张三"},
            "event": {"channel": "app", "occurred_at": "2026-11-20T02:00:00+00:00", "scores": {"nps": 2}},
            "trace": [
                {"field": f"scores.nps{i}", "op": "lte", "value": 6, "actual": 2, "result": True}
                for i in range(steps)
            ],
        },
    }


def footprint(store) -> dict:
    return {name: store.db[name].count_documents({}) for name in store.db.list_collection_names()}


def by_target(rows):
    return {(r["channel"], r["recipient"]["kind"], r["recipient"]["id"]): r for r in rows}


def test_simulate_reports_routing_quiet_hours_and_rendering_and_changes_nothing(
    notify, store, robots, smtp_sink
):
    before = footprint(store)
    rows = notify.simulate(
        request({"kind": "team", "id": "care"}, ["wecom", "email", "slack"]), NOW.isoformat()
    )
    rows = by_target(rows)
    # The team's group robot takes wecom once; email and slack go to each member.
    assert set(rows) == {
        ("wecom", "team", "care"),
        ("email", "person", "li.na"),
        ("email", "person", "emma"),
        ("slack", "person", "li.na"),
        ("slack", "person", "emma"),
    }
    wecom = rows[("wecom", "team", "care")]
    assert wecom["body"]["msgtype"] == "markdown" and "CASE-1" in wecom["body"]["markdown"]["content"]
    assert wecom["template"] == "zh-CN/case_assigned.md.j2" and wecom["render_error"] is None
    assert wecom["held_for_quiet_hours"] is False and not wecom["truncated"] and wecom["error"] is None
    # li.na is in her quiet hours (23:00 in Shanghai) until 08:00; Emma (London, 15:00) is not.
    mail = rows[("email", "person", "li.na")]
    assert mail["held_for_quiet_hours"] and mail["release_at"] == "2026-11-21T00:00:00+00:00"
    assert mail["language"] == "zh-CN" and "张三" in mail["subject"] and "李娜" in mail["body"]
    assert mail["html"] and mail["template"] == "zh-CN/case_assigned.txt.j2"
    english = rows[("email", "person", "emma")]
    assert english["language"] == "en" and not english["held_for_quiet_hours"] and "Emma" in english["body"]
    # li.na has no Slack: the delivery would fail and fall back to email, which she already gets.
    assert rows[("slack", "person", "li.na")]["error"] == "no slack webhook"
    assert rows[("slack", "person", "li.na")]["fallback_channel"] == "email"
    assert rows[("slack", "person", "emma")]["body"]["blocks"]
    # No side effect anywhere: store, robots, mailbox.
    assert footprint(store) == before
    assert not any(r.requests for r in robots.values()) and smtp_sink.messages() == []


def test_urgent_levels_bypass_quiet_hours_and_truncation_is_reported(notify):
    (row,) = notify.simulate(
        request({"kind": "person", "id": "li.na"}, ["email"], level="P1"), NOW.isoformat()
    )
    assert not row["held_for_quiet_hours"] and row["release_at"] is None
    assert "P1" in row["bypass_reason"] and "quiet hours" in row["bypass_reason"]
    (long,) = notify.simulate(request({"kind": "team", "id": "care"}, ["wecom"], steps=300), NOW.isoformat())
    content = long["body"]["markdown"]["content"]
    assert long["truncated"] and len(content.encode("utf-8")) <= 4096 and "…" in content
    (short,) = notify.simulate(request({"kind": "team", "id": "care"}, ["wecom"]), NOW.isoformat())
    assert not short["truncated"]


def test_a_destination_that_cannot_be_used_shows_its_fallback_deliveries(notify, store):
    store.apply_directory(
        load_directory(
            {
                "people": [{"id": "wang", "name": "王芳", "email": "wang@example.com"}],
                "teams": [{"id": "night", "name": "Night", "members": ["wang"], "handles": {}}],
            }
        )
    )
    rows = notify.simulate(request({"kind": "person", "id": "wang"}, ["wecom"]), NOW.isoformat())
    assert [(r["channel"], r["error"], r["fallback_of"]) for r in rows] == [
        ("wecom", "no wecom webhook", None),
        ("email", None, "person:wang"),
    ]
    assert rows[1]["fallback_channel"] is None and "王芳" in rows[1]["body"]


def test_a_template_failure_is_reported_with_the_builtin_message(store, smtp_sink):
    renderer = Renderer()
    renderer.sync({"zh-CN/case_assigned.md.j2": "{{ 1 / 0 }}"})
    channels = default_channels(
        {"smtp": SmtpConfig(host="127.0.0.1", port=smtp_sink.port, sender="cx@x.org")}
    )
    pipeline = Pipeline(store, channels, renderer, lambda *a: None, Policy())
    before = footprint(store)
    (row,) = simulate(pipeline, request({"kind": "team", "id": "care"}, ["wecom"]), NOW.timestamp())
    assert row["template"] == "builtin:fallback" and "ZeroDivisionError" in row["render_error"]
    assert footprint(store) == before  # the real pipeline counts template_fallbacks; a simulation does not


def test_bad_requests_name_the_field(notify):
    with pytest.raises(BadRequest) as info:
        notify.simulate({"notification_id": "x", "kind": "nope", "channels": []})
    fields = {e.split(":")[0] for e in info.value.errors}
    assert {"request.kind", "request.recipient", "request.channels", "request.level"} <= fields
    with pytest.raises(BadRequest) as info:
        notify.simulate(request({"kind": "person", "id": "li.na"}, ["email"]), "yesterday")
    assert info.value.errors[0].startswith("now:")


def test_a_teams_group_message_mentions_every_member_with_a_teams_identity(notify, store, robots):
    store.apply_directory(
        load_directory(
            {
                "people": [
                    {"id": "a", "name": "A", "handles": {"teams": {"user_principal_name": "a@example.com"}}},
                    {"id": "b", "name": "B", "handles": {"teams": {"user_principal_name": "b@example.com"}}},
                    {"id": "c", "name": "C"},  # no Teams identity: not mentioned
                ],
                "teams": [
                    {
                        "id": "ops",
                        "name": "Ops",
                        "members": ["a", "b", "c"],
                        "handles": {"teams": {"webhook": robots["slack"].webhook}},
                    }
                ],
            }
        )
    )
    (row,) = notify.simulate(request({"kind": "team", "id": "ops"}, ["teams"]), NOW.isoformat())
    card = row["body"]["attachments"][0]["content"]
    assert [e["mentioned"]["id"] for e in card["msteams"]["entities"]] == ["a@example.com", "b@example.com"]
    assert card["body"][-1]["text"] == "<at>a@example.com</at> <at>b@example.com</at>"
