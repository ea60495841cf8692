"""Scheduled digests: the schedule, the claim, the content, on a real store and real SMTP."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.notify.channels.email import SmtpConfig
from services.notify.delivery import Pipeline, Policy, default_channels
from services.notify.digest import DigestRunner, build_context, next_run, schedule_all
from services.notify.digest_cron import DigestScheduler
from services.notify.directory import load_directory
from services.notify.render import Renderer
from services.notify.store import NotifyStore
from tests.conftest import wait_until

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


def test_two_schedulers_fire_the_same_cron_and_the_digest_runs_once(mongo_client, db_prefix, smtp_sink):
    """Two replicas' APScheduler instances (real background schedulers) both fire one
    owner's job; the Mongo claim lets one of them run the digest."""
    store = NotifyStore(mongo_client[f"{db_prefix}notify"])
    store.ensure_indexes()
    person = {
        "id": "li.na",
        "name": "李娜",
        "email": "li.na@example.com",
        "timezone": "Asia/Shanghai",
        "digest": {"frequency": "weekly", "at": "09:00", "weekday": 4},
    }
    directory = load_directory({"people": [person]})
    store.apply_directory(directory)
    now = datetime.now(UTC)
    schedule_all(store, directory["people"], now - timedelta(days=8))  # the last Friday's run is due
    channels = default_channels(
        {"smtp": SmtpConfig(host="127.0.0.1", port=smtp_sink.port, sender="cx@x.test")}
    )
    pipeline = Pipeline(store, channels, Renderer(), lambda *a: None, Policy())
    calls, fired, finished = [], [], []

    def replica(name):
        runner = DigestRunner(store, lambda **kw: calls.append(name) or [], pipeline, "http://console")

        def fire(person_id):
            fired.append((name, person_id))
            if person_id is None:
                scheduler.sync(store.digest_schedules())
            runner.run(datetime.now(UTC).timestamp(), person_id)
            finished.append((name, person_id))

        scheduler = DigestScheduler(fire, sync_seconds=3600)
        return scheduler

    schedulers = [replica("a"), replica("b")]
    for s in schedulers:
        s.sync(store.digest_schedules())
    # each job is the owner's cron: Friday 09:00 in Shanghai
    friday = schedulers[0].next_fire("li.na")
    assert friday.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%a %H:%M") == "Fri 09:00"
    assert friday == schedulers[1].next_fire("li.na")
    try:
        soon = datetime.now(UTC) + timedelta(seconds=1)
        for s in schedulers:  # the cron moment, brought forward: both replicas fire together
            s.scheduler.start()
            s.scheduler.modify_job("digest:li.na", next_run_time=soon)
        # wait for both runs to finish (not just start): the winner creates the delivery
        wait_until(lambda: sum(p == "li.na" for _, p in finished) == 2, timeout=15, message="both jobs ran")
    finally:
        for s in schedulers:
            s.stop()
    assert len(calls) == 1  # one replica read the cases and requested the digest
    assert store.db.deliveries.count_documents({"kind": "digest"}) == 1
    doc = store.db.digests.find_one({"_id": "li.na"})
    assert doc["next_run_at"] == friday.timestamp() and doc["lease_until"] == 0
