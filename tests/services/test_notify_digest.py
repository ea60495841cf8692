"""Scheduled digests: the schedule, the claim, the content, on a real store and real SMTP."""

from datetime import UTC, datetime

from services.notify.channels.email import SmtpConfig
from services.notify.delivery import Pipeline, Policy, default_channels
from services.notify.digest import DigestRunner, build_context, next_run, schedule_all
from services.notify.directory import load_directory
from services.notify.render import Renderer
from services.notify.store import NotifyStore

MON_0800_SH = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # Monday 08:00 in Shanghai


def test_next_run_daily_and_weekly_in_the_owners_zone():
    daily = {"frequency": "daily", "at": "09:00"}
    assert next_run(daily, "Asia/Shanghai", MON_0800_SH) == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert next_run(daily, "Asia/Shanghai", datetime(2026, 11, 23, 1, 0, tzinfo=UTC)) == datetime(
        2026, 11, 24, 1, 0, tzinfo=UTC
    )
    weekly = {"frequency": "weekly", "at": "09:00", "weekday": 4}  # Friday
    assert next_run(weekly, "Asia/Shanghai", MON_0800_SH) == datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def test_context_lists_open_cases_breaches_and_top_rules():
    cases = [
        {
            "_id": "CASE-1",
            "title": "a",
            "level": "P1",
            "status": "assigned",
            "rule": {"name": "NPS 贬损者"},
            "opened_at": "2026-11-22T22:00:00+00:00",
            "sla": {"breached": True},
        },
        {
            "_id": "CASE-2",
            "title": "b",
            "level": "P3",
            "status": "in_progress",
            "rule": {"name": "NPS 贬损者"},
            "opened_at": "2026-11-22T00:00:00+00:00",
        },
        {"_id": "CASE-3", "title": "c", "level": "P2", "status": "closed", "rule": {"name": "CSAT"}},
    ]
    ctx = build_context({"id": "li.na"}, cases, "daily", MON_0800_SH, "http://console")
    assert [c["case_id"] for c in ctx["open_cases"]] == ["CASE-1", "CASE-2"]
    assert (
        ctx["open_cases"][1]["age_hours"] == 24
        and ctx["breaches"][0]["case_url"] == "http://console/cases/CASE-1"
    )
    assert ctx["top_alerts"] == [{"rule": "NPS 贬损者", "count": 2}]


def test_a_due_digest_is_claimed_once_sent_and_rescheduled(mongo_client, db_prefix, smtp_sink):
    store = NotifyStore(mongo_client[f"{db_prefix}notify"])
    store.ensure_indexes()
    directory = load_directory(
        {
            "people": [
                {
                    "id": "emma",
                    "name": "Emma",
                    "email": "emma@example.com",
                    "language": "en",
                    "timezone": "Europe/London",
                    "digest": {"frequency": "daily", "at": "08:30"},
                }
            ]
        }
    )
    store.apply_directory(directory)
    schedule_all(store, directory["people"], MON_0800_SH)
    due = datetime(2026, 11, 23, 8, 30, tzinfo=UTC).timestamp()  # 08:30 in London
    calls = []

    def list_cases(**kwargs):
        calls.append(kwargs)
        return [
            {
                "_id": "CASE-7",
                "title": "送货慢",
                "level": "P2",
                "status": "assigned",
                "rule": {"name": "NPS"},
                "opened_at": "2026-11-23T02:30:00+00:00",
            }
        ]

    channels = default_channels(
        {"smtp": SmtpConfig(host="127.0.0.1", port=smtp_sink.port, sender="cx@x.test")}
    )
    pipeline = Pipeline(store, channels, Renderer(), lambda *a: None, Policy())
    replicas = [DigestRunner(store, list_cases, pipeline, "http://console") for _ in range(2)]
    assert replicas[0].run(due - 1) == 0
    assert replicas[0].run(due) == 1 and replicas[1].run(due) == 0  # claimed once
    assert calls == [{"assignee": "emma", "limit": 500}]
    pipeline.run(due)
    [mail] = smtp_sink.messages()
    assert mail["Subject"] == "[CX daily digest] 1 open cases, 0 breached"
    assert "CASE-7 送货慢 (6 h) http://console/cases/CASE-7" in mail.get_body(("plain",)).get_content()
    assert store.db.digests.find_one({"_id": "emma"})["next_run_at"] == due + 86400
    # re-applying the same directory keeps the schedule; a crash-rerun of the same period sends nothing new
    schedule_all(store, directory["people"], MON_0800_SH)
    assert store.db.digests.find_one({"_id": "emma"})["next_run_at"] == due + 86400
