"""Scheduled digests: the schedule, the claim, the content, on a real store and real SMTP."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify.channels.email import SmtpConfig
from services.notify.delivery import Pipeline, Policy, default_channels
from services.notify.digest import DigestRunner, build_context, next_run, schedule_all
from services.notify.digest_cron import DigestScheduler
from services.notify.directory import load_directory
from services.notify.render import Renderer
from services.notify.store import NotifyStore
from tests.conftest import wait_until
from tests.services.cases_desk import make_desk
from tests.services.test_cases import alert

MON_0800_SH = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # Monday 08:00 in Shanghai


def test_next_run_daily_and_weekly_in_the_owners_zone():
    daily = {"frequency": "daily", "at": "09:00"}
    assert next_run(daily, "Asia/Shanghai", MON_0800_SH) == datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert next_run(daily, "Asia/Shanghai", datetime(2026, 11, 23, 1, 0, tzinfo=UTC)) == datetime(
        2026, 11, 24, 1, 0, tzinfo=UTC
    )
    weekly = {"frequency": "weekly", "at": "09:00", "weekday": 4}  # Friday
    assert next_run(weekly, "Asia/Shanghai", MON_0800_SH) == datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def shanghai(*args):
    return datetime(*args, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


@pytest.fixture
def desk(mongo_client, db_prefix):
    """The real cases service (worker, store, sample SLA policy: P2 acknowledge in 60 and
    resolve in 480 business minutes, warning at 80 %) on a clock the test moves."""
    return make_desk(mongo_client[f"{db_prefix}cases"], shanghai(2026, 11, 23, 10, 0), escalation=False)


def open_case(desk, n, customer, at):
    desk.now.at = at
    desk.handle_alert_raised([alert(n, customer=customer)])
    [case] = desk.list_cases(customer=customer)
    return {"case_id": case["_id"], "by": "li.na"}


def test_digest_lists_the_clocks_the_cases_service_recorded_as_breached_or_at_risk(desk):
    """Case documents as the cases service writes and lists them, their SLA clocks moved by
    its own actions on its own clock; the digest is due Tuesday 11:40 in Shanghai."""
    paused = open_case(desk, 1, "C-PAUSED", shanghai(2026, 11, 23, 10, 0))  # resolve due Tue 10:30
    desk.now.at = shanghai(2026, 11, 23, 10, 10)
    desk.acknowledge(paused)
    desk.start(paused)
    desk.now.at = shanghai(2026, 11, 24, 10, 31)  # ran out a minute ago, then paused: breached_at kept
    desk.pending_customer(paused)
    overdue = open_case(desk, 2, "C-OVERDUE", shanghai(2026, 11, 24, 10, 0))  # acknowledge due 11:00
    late = open_case(desk, 3, "C-LATE", shanghai(2026, 11, 24, 10, 0))
    desk.now.at = shanghai(2026, 11, 24, 11, 10)
    desk.acknowledge(late)  # 10 minutes late: the acknowledge clock stops unmet
    risky = open_case(desk, 4, "C-RISKY", shanghai(2026, 11, 24, 10, 50))  # warns 11:38, due 11:50
    fresh = open_case(desk, 5, "C-FRESH", shanghai(2026, 11, 24, 11, 30))
    end = shanghai(2026, 11, 24, 11, 40)
    desk.now.at = end
    cases = desk.list_cases(assignee="li.na", limit=500)  # the RPC the digest calls
    stored = {c["_id"]: c["sla"]["clocks"] for c in cases}
    assert stored[paused["case_id"]]["resolve"]["breached_at"] == shanghai(2026, 11, 24, 10, 30).isoformat()
    assert stored[late["case_id"]]["acknowledge"]["met"] is False

    ctx = build_context({"id": "li.na"}, cases, "daily", end, "http://console")
    assert len(ctx["open_cases"]) == 5 and fresh["case_id"] in [c["case_id"] for c in ctx["open_cases"]]
    breaches = {c["case_id"]: c["clocks"] for c in ctx["breaches"]}
    assert breaches == {
        paused["case_id"]: ["resolve"],
        overdue["case_id"]: ["acknowledge"],
        late["case_id"]: ["acknowledge"],
    }
    assert [(c["case_id"], c["clocks"]) for c in ctx["at_risk"]] == [(risky["case_id"], ["acknowledge"])]
    assert ctx["top_alerts"] == [{"rule": "NPS 贬损者", "count": 5}]
    assert ctx["customer_ids"] == ["C-FRESH", "C-LATE", "C-OVERDUE", "C-PAUSED", "C-RISKY"]
    [row] = [c for c in ctx["breaches"] if c["case_id"] == overdue["case_id"]]
    assert row["case_url"] == f"http://console/cases/{overdue['case_id']}" and row["age_hours"] == 1
    assert row["customer"] == {"id": "C-OVERDUE", "name": "张三"}

    for language, breached, at_risk in (
        ("en", "first response overdue", "first response due soon"),
        ("zh-CN", "首次响应已超时", "首次响应即将超时"),
    ):
        rendered = Renderer().render("digest", "email", language, ctx, {"id": "li.na"})
        assert not rendered.fallback, rendered.error
        assert rendered.subject.endswith(("3 breached", "3 个超时"))
        assert f"{overdue['case_id']} NPS 贬损者 · 张三" in rendered.text and breached in rendered.text
        assert at_risk in rendered.text


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


def test_the_digest_counts_the_matches_throttled_onto_the_owners_alerts(
    mongo_client, db_prefix, smtp_sink, desk
):
    """The real producers: the alerts engine on its store throttles a storm (one alert
    let through, the rest suppressed and attached to it), the cases service opens the
    case from the real alert_raised, and the digest asks the alerts store for the count."""
    from services.alerts import queries
    from services.alerts.engine import Engine
    from services.alerts.processing import announcements, storm_announcements
    from services.alerts.rules import load_rule
    from services.alerts.store import AlertStore

    alerts = AlertStore(mongo_client[f"{db_prefix}alerts"])
    alerts.ensure_indexes()
    rule = {
        **load_rule(
            {
                "id": "unexpected-charges",
                "name": "乱收费 / Unexpected charges",
                "level": "P2",
                "owner": {"kind": "person", "id": "li.na"},
                "channels": ["email"],
                "when": {"field": "tags", "op": "contains_any", "value": ["billing-dispute"]},
                "throttle": {"max_alerts": 1, "per": "1h"},
            }
        ),
        "version": 1,
    }
    start = shanghai(2026, 11, 23, 9, 0)
    storm = [
        {
            "source": "app",
            "event_id": f"bill-{i}",
            "occurred_at": start + timedelta(seconds=i),
            "customer": {"id": f"CB{i}"},
            "channel": "app",
            "tags": ["billing-dispute"],
        }
        for i in range(25)
    ]
    engine = Engine(alerts.state)
    outcomes = engine.process_many([rule], storm, shanghai(2026, 11, 23, 10, 0))
    [message] = list(announcements(alerts, outcomes))
    [storm_message] = list(storm_announcements(alerts, engine.storms))
    desk.handle_alert_raised([message, storm_message])
    # the refused matches attach to the storm alert, whose incident is li.na's too
    [case] = [c for c in desk.list_cases(assignee="li.na") if c.get("kind") == "incident"]

    store = NotifyStore(mongo_client[f"{db_prefix}notify"])
    store.ensure_indexes()
    person = {
        "id": "li.na",
        "name": "Li Na",
        "email": "li.na@example.com",
        "language": "en",
        "timezone": "Asia/Shanghai",
        "digest": {"frequency": "daily", "at": "18:00"},
    }
    directory = load_directory({"people": [person]})
    store.apply_directory(directory)
    schedule_all(store, directory["people"], shanghai(2026, 11, 23, 10, 0))
    channels = default_channels(
        {"smtp": SmtpConfig(host="127.0.0.1", port=smtp_sink.port, sender="cx@x.test")}
    )
    pipeline = Pipeline(store, channels, Renderer(), lambda *a: None, Policy())
    asked = []

    def suppressed(ids):
        asked.append(ids)
        return queries.suppressed_on_alerts(alerts, ids)

    runner = DigestRunner(store, desk.list_cases, pipeline, "http://console", suppressed=suppressed)
    due = shanghai(2026, 11, 23, 18, 0).timestamp()
    assert runner.run(due) == 1
    assert [sorted(ids) for ids in asked] == [sorted([message["alert_id"], storm_message["alert_id"]])]
    pipeline.run(due)
    [mail] = smtp_sink.messages()
    text = mail.get_body(("plain",)).get_content()
    assert "throttled onto your cases' alerts (24)" in text
    assert f"{case['_id']}" in text and "乱收费 / Unexpected charges ×24" in text


def test_a_digest_says_when_the_alerts_service_did_not_answer():
    def broken(ids):
        raise TimeoutError("alerts did not answer")

    runner = DigestRunner(None, None, None, "http://console", suppressed=broken)
    assert runner._suppressed(["AL-1"]) is None
    ctx = build_context({"id": "li.na"}, [], "daily", MON_0800_SH, "http://console", None)
    rendered = Renderer().render("digest", "email", "zh-CN", ctx, {"id": "li.na"})
    assert "被抑制的匹配：未知（预警服务未响应）" in rendered.text
