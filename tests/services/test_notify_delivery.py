"""The delivery pipeline on a real store, real HTTP receivers and real SMTP,
with an injected clock (``now``) and a fixed jitter so schedules are exact."""

from datetime import UTC, datetime

import eventlet
import pytest

from services.notify.channels.base import Outcome
from services.notify.channels.dingtalk.fake import FakeDingTalk
from services.notify.channels.email import SmtpConfig
from services.notify.channels.slack.fake import FakeSlack
from services.notify.channels.testing import Answer
from services.notify.channels.wecom.fake import FakeWeCom
from services.notify.delivery import Pipeline, Policy, default_channels
from services.notify.directory import load_directory
from services.notify.render import Renderer
from services.notify.stages.retry import backoff
from services.notify.store import NotifyStore, anonymise_customer

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC).timestamp()  # 14:00 in Shanghai


@pytest.fixture
def robots():
    with (
        FakeDingTalk(clock=lambda: NOW) as dingtalk,
        FakeWeCom(clock=lambda: NOW) as wecom,
        FakeSlack() as slack,
    ):
        yield {"dingtalk": dingtalk, "wecom": wecom, "slack": slack}


@pytest.fixture
def store(mongo_client, db_prefix, robots):
    s = NotifyStore(mongo_client[f"{db_prefix}notify"])
    s.ensure_indexes()
    s.apply_directory(
        load_directory(
            {
                "people": [
                    {
                        "id": "li.na",
                        "name": "李娜",
                        "email": "li.na@example.com",
                        "handles": {"dingtalk": {"mobile": "13800001111"}, "wecom": {"user_id": "lina"}},
                        "quiet_hours": {"start": "22:00", "end": "08:00"},
                    },
                    {
                        "id": "emma",
                        "name": "Emma",
                        "email": "emma@example.com",
                        "language": "en",
                        "timezone": "Europe/London",
                        "handles": {
                            "dingtalk": {"user_id": "emma01"},
                            "slack": {"webhook": robots["slack"].webhook, "user_id": "U1"},
                        },
                    },
                ],
                "teams": [
                    {
                        "id": "care",
                        "name": "Care",
                        "members": ["li.na", "emma"],
                        "handles": {
                            "dingtalk": {
                                "webhook": robots["dingtalk"].webhook,
                                "secret": robots["dingtalk"].secret,
                            },
                            "wecom": {"webhook": robots["wecom"].webhook},
                        },
                    }
                ],
            }
        )
    )
    return s


class Announced(list):
    def __call__(self, doc, outcome, attempts):
        self.append((doc["_id"], outcome.status, attempts))


def pipeline(store, smtp_sink, **policy):
    channels = default_channels(
        {"smtp": SmtpConfig(host="127.0.0.1", port=smtp_sink.port, sender="cx@example.com"), "timeout": 5}
    )
    options = dict(
        backoff_base=5.0, backoff_cap=60.0, max_attempts=4, fallback={"dingtalk": "email", "wecom": "email"}
    )
    options.update(policy)
    return Pipeline(store, channels, Renderer(), Announced(), Policy(**options), rng=lambda: 1.0)


class StandIn:
    """A dingtalk channel stand-in without limits or checks; tests give it ``deliver``."""

    name = "dingtalk"
    rate = None
    template_format = "md"

    def destination_key(self, destination):
        return "x"

    def rate_for(self, destination):
        return None

    def check(self, destination):
        pass


def request(recipient, channels, notification_id="n1", level="P2"):
    return {
        "notification_id": notification_id,
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
            "trace": [{"field": "scores.nps", "op": "lte", "value": 6, "actual": 2, "result": True}],
        },
    }


LI_NA = {"kind": "person", "id": "li.na"}
EMMA = {"kind": "person", "id": "emma"}


def test_backoff_is_exponential_with_full_jitter_and_capped():
    policy = Policy(backoff_base=2.0, backoff_cap=10.0)
    assert [backoff(n, policy, lambda: 1.0) for n in (1, 2, 3, 4, 5)] == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff(3, policy, lambda: 0.25) == 2.0


def test_transient_failures_are_retried_on_schedule_until_the_receiver_recovers(store, smtp_sink, robots):
    robot = robots["dingtalk"]
    robot.script(Answer(503, "busy"), Answer(200, {"errcode": -1, "errmsg": "系统繁忙"}))
    p = pipeline(store, smtp_sink)
    [delivery_id] = p.request(request(EMMA, ["dingtalk"]), NOW)
    assert p.run(NOW) == 1  # attempt 1: 503
    doc = store.get_delivery(delivery_id)
    assert doc["status"] == "scheduled" and doc["next_attempt_at"] == NOW + 5 and doc["attempts"] == 1
    assert p.run(NOW + 4.9) == 0  # not due yet: nothing blocks, nothing is sent
    assert p.run(NOW + 5) == 1  # attempt 2: errcode -1 (busy)
    assert store.get_delivery(delivery_id)["next_attempt_at"] == NOW + 5 + 10
    assert p.run(NOW + 15) == 1  # attempt 3: accepted
    doc = store.get_delivery(delivery_id)
    assert doc["status"] == "delivered" and doc["attempts"] == 3
    assert len(robot.accepted) == 1 and len(robot.requests) == 3
    log = store.attempts(delivery_id)
    assert [(a["attempt"], a["status"], a["http_status"]) for a in log] == [
        (1, "retry", 503),
        (2, "retry", 200),
        (3, "delivered", 200),
    ]
    assert "errcode -1" in log[1]["error"] and log[0]["destination"].startswith("http://127.0.0.1")
    assert p.announce == [(delivery_id, "delivered", 3)]
    assert p.run(NOW + 1000) == 0  # delivered is final


def test_429_retry_after_wins_over_a_shorter_backoff(store, smtp_sink, robots):
    robots["slack"].script(Answer(429, "rate_limited", {"Retry-After": "30"}))
    p = pipeline(store, smtp_sink)
    [delivery_id] = p.request(request(EMMA, ["slack"]), NOW)
    p.run(NOW)
    assert store.get_delivery(delivery_id)["next_attempt_at"] == NOW + 30
    assert p.run(NOW + 29) == 0 and p.run(NOW + 30) == 1
    assert store.get_delivery(delivery_id)["status"] == "delivered"


def test_permanent_failure_is_not_retried_and_falls_back_to_email(store, smtp_sink, robots):
    store.db.recipients.update_one(
        {"_id": "team:care"}, {"$set": {"handles.wecom.webhook": robots["wecom"].webhook + "-revoked"}}
    )
    p = pipeline(store, smtp_sink)
    [delivery_id] = p.request(request({"kind": "team", "id": "care"}, ["wecom"]), NOW)
    p.run(NOW)
    doc = store.get_delivery(delivery_id)
    assert doc["status"] == "failed" and doc["attempts"] == 1 and "93000" in doc["last_error"]
    mails = {m["To"]: m for m in smtp_sink.messages()}
    assert set(mails) == {"li.na@example.com", "emma@example.com"}  # the team's members, by email
    assert mails["emma@example.com"]["Subject"].startswith("[P2 high]")
    assert store.stats()["counters"]["fallbacks"] == 2
    statuses = sorted((a[1], a[2]) for a in p.announce)
    assert statuses == [("delivered", 1), ("delivered", 1), ("failed", 1)]


def test_retries_exhausted_then_fallback(store, smtp_sink, robots):
    robots["dingtalk"].script(*[Answer(500, "down")] * 2)
    p = pipeline(store, smtp_sink, max_attempts=2)
    [delivery_id] = p.request(request(EMMA, ["dingtalk"]), NOW)
    p.run(NOW)
    p.run(NOW + 5)
    doc = store.get_delivery(delivery_id)
    assert doc["status"] == "failed" and doc["last_error"].startswith("gave up after 2 attempts")
    [mail] = smtp_sink.messages()
    assert mail["To"] == "emma@example.com"


def test_a_team_robot_gets_one_message_mentioning_every_member(store, smtp_sink, robots):
    p = pipeline(store, smtp_sink)
    p.request(request({"kind": "team", "id": "care"}, ["dingtalk"]), NOW)
    p.run(NOW)
    [sent] = robots["dingtalk"].accepted
    payload = sent.json()
    assert payload["at"]["atMobiles"] == ["13800001111"] and payload["at"]["atUserIds"] == ["emma01"]
    assert "[查看工单](http://console/cases/CASE-1)" in payload["markdown"]["text"]  # the team's language


def test_a_person_without_a_robot_uses_their_teams_and_is_mentioned(store, smtp_sink, robots):
    p = pipeline(store, smtp_sink)
    p.request(request(LI_NA, ["wecom"]), NOW)
    p.run(NOW)
    content = robots["wecom"].accepted[0].json()["markdown"]["content"]
    assert content.endswith("<@lina>") and "李娜，您有一个新的客户体验工单" in content


def test_quiet_hours_hold_non_urgent_messages_until_the_period_ends(store, smtp_sink, robots):
    late = datetime(2026, 11, 20, 15, 0, tzinfo=UTC).timestamp()  # 23:00 in Shanghai
    end = datetime(2026, 11, 21, 0, 0, tzinfo=UTC).timestamp()  # 08:00 in Shanghai
    p = pipeline(store, smtp_sink)
    [held] = p.request(request(LI_NA, ["email"], "n-quiet", level="P3"), late)
    [urgent] = p.request(request(LI_NA, ["email"], "n-urgent", level="P1"), late)
    assert store.get_delivery(held)["status"] == "held"
    p.run(late)
    assert [m["X-CX-Delivery-Id"] for m in smtp_sink.messages()] == [urgent]  # P1 bypasses quiet hours
    assert p.run(end - 1) == 0
    assert p.run(end) == 1  # the first sweep after 08:00 sends it
    assert store.get_delivery(held)["status"] == "delivered"
    assert len(smtp_sink.messages()) == 2


def test_send_rate_is_shared_by_replicas_and_delays_without_counting_attempts(store, smtp_sink, robots):
    replicas = [pipeline(store, smtp_sink), pipeline(store, smtp_sink)]
    ids = []
    for n in range(3):
        ids += replicas[n % 2].request(request({"kind": "team", "id": "care"}, ["wecom"], f"n{n}"), NOW)
    replicas[0].run(NOW)
    replicas[1].run(NOW)
    # WeCom allows 20/minute: one send per 3 s, whichever replica sends it
    assert len(robots["wecom"].accepted) == 1
    waiting = [store.get_delivery(i) for i in ids if store.get_delivery(i)["status"] == "scheduled"]
    assert len(waiting) == 2 and all(d["attempts"] == 0 for d in waiting)
    assert {d["next_attempt_at"] for d in waiting} == {NOW + 3}
    assert replicas[1].run(NOW + 3) == 2  # both claimed, one sent, one waits again
    assert len(robots["wecom"].accepted) == 2
    assert replicas[0].run(NOW + 6) == 1 and len(robots["wecom"].accepted) == 3
    assert all(a["status"] == "delivered" for i in ids for a in store.attempts(i))


def test_a_leased_delivery_is_not_claimed_twice_and_an_expired_lease_is_taken_over(store, smtp_sink, robots):
    p = pipeline(store, smtp_sink, lease=30.0)
    [delivery_id] = p.request(request(EMMA, ["slack"]), NOW)
    claimed = store.claim_due(NOW, 30.0)
    assert claimed["_id"] == delivery_id
    assert store.claim_due(NOW + 1, 30.0) is None  # a second replica finds nothing
    assert p.run(NOW + 31) == 1  # the first claimer died; the lease expired
    assert not store.settle(claimed, {"status": "failed"})  # the late worker cannot overwrite it
    assert store.get_delivery(delivery_id)["status"] == "delivered" and len(robots["slack"].accepted) == 1


def test_a_store_outage_after_the_vendor_accepted_is_waited_out_not_resent(store, smtp_sink, robots):
    """The chaos run saw one email twice: the store died between the SMTP send and the
    record of it, and the lease expiry sent it again. Recording now waits the outage out."""
    from pymongo.errors import AutoReconnect

    p = pipeline(store, smtp_sink, lease=30.0)
    [delivery_id] = p.request(request(EMMA, ["slack"]), NOW)
    real, failures = store.settle_many, []

    def store_away_twice(items):
        if len(failures) < 2:
            failures.append(items[0][0]["_id"])
            raise AutoReconnect("connection refused")
        return real(items)

    store.settle_many = store_away_twice
    assert p.run(NOW) == 1
    assert failures == [delivery_id, delivery_id]
    doc = store.get_delivery(delivery_id)
    assert doc["status"] == "delivered" and doc["attempts"] == 1
    assert p.run(NOW + 31) == 0  # nothing left for a lease expiry to resend
    assert len(robots["slack"].accepted) == 1


def test_unknown_channel_and_missing_handle_fail_with_a_reason(store, smtp_sink):
    p = pipeline(store, smtp_sink, fallback={})
    ids = p.request(request(LI_NA, ["pager", "slack"]), NOW)
    p.run(NOW)
    errors = {store.get_delivery(i)["channel"]: store.get_delivery(i)["last_error"] for i in ids}
    assert errors == {"pager": "channel pager is not configured", "slack": "no slack webhook"}


def test_a_channel_that_raises_is_retried_bounded_then_falls_back(store, smtp_sink):
    p = pipeline(store, smtp_sink, max_attempts=2)

    class Broken(StandIn):
        def deliver(self, note, destination, now):
            raise KeyError("webhook")

    p.channels["dingtalk"] = Broken()
    [delivery_id] = p.request(request(EMMA, ["dingtalk"]), NOW)
    p.run(NOW)
    p.run(NOW + 5)
    doc = store.get_delivery(delivery_id)
    assert doc["status"] == "failed" and "internal error: KeyError" in doc["last_error"]
    [mail] = smtp_sink.messages()
    assert mail["To"] == "emma@example.com"


def test_a_new_notification_is_sent_by_its_worker_without_a_claim_and_a_dead_worker_leaves_it_to_the_sweep(
    store, smtp_sink
):
    p = pipeline(store, smtp_sink)
    # deliver: created leased to this worker, attempted at once, attempts kept in the delivery
    assert p.deliver(request(EMMA, ["email"]), NOW) == ["n1|email|person:emma"]
    [doc] = store.list_deliveries()
    assert doc["status"] == "delivered" and "attempt_log" not in doc
    assert [(a["attempt"], a["status"]) for a in store.attempts(doc["_id"])] == [(1, "delivered")]
    assert p.deliver(request(EMMA, ["email"]), NOW) == []  # a redelivered request: nothing new
    # a worker that died after creating its leased delivery: the sweep waits out the lease
    lost = p.plan.delivery("n2|email|person:emma", request(EMMA, ["email"], "n2"), EMMA, "email", NOW)
    assert store.create_leased(lost, NOW + 60) is not None
    assert p.run(NOW + 59) == 0 and p.run(NOW + 61) == 1
    assert store.get_delivery(lost["_id"])["status"] == "delivered"
    assert len(smtp_sink.messages()) == 2


def test_a_fallback_made_after_an_erasure_carries_the_scrubbed_context(store, smtp_sink, robots):
    """The customer is erased while the robot's vendor answers: the email fallback is built
    from the delivery as stored now, not from the copy the attempt started with."""
    robots["dingtalk"].script(Answer(500, "down"))
    p = pipeline(store, smtp_sink, max_attempts=1)
    robot = p.channels["dingtalk"]

    class ErasedMeanwhile:
        def __getattr__(self, name):
            return getattr(robot, name)

        def deliver(self, note, destination, now):
            anonymise_customer(store.db, ["C1"])
            return robot.deliver(note, destination, now)

    p.channels["dingtalk"] = ErasedMeanwhile()
    [delivery_id] = p.request(request(EMMA, ["dingtalk"]), NOW)
    p.run(NOW)
    p.run(NOW)
    assert store.get_delivery(delivery_id)["status"] == "failed"
    [fallback] = store.list_deliveries(channel="email")
    assert fallback["fallback_of"] == delivery_id and fallback["context"]["customer"] == {"id": "C1"}
    [mail] = smtp_sink.messages()
    assert mail["Subject"] == "[P2 high] NPS 贬损者 · [erased 已删除]"
    assert "张三" not in mail.get_body(("plain",)).get_content()


def test_a_batch_of_requests_is_created_at_once_and_sent_several_at_a_time(store, smtp_sink):
    p = pipeline(store, smtp_sink, concurrency=4)
    sending, most = set(), []

    class Slow(StandIn):
        """A channel that takes a moment per send and records how many run at once."""

        def deliver(self, note, destination, now):
            token = object()
            sending.add(token)
            most.append(len(sending))
            eventlet.sleep(0.05)
            sending.discard(token)
            return Outcome.ok()

    p.channels["dingtalk"] = Slow()
    requests = [request(EMMA, ["dingtalk"], f"n{k}") for k in range(10)]
    created = p.deliver_many(requests, NOW)
    assert created == [f"n{k}|dingtalk|person:emma" for k in range(10)]
    assert {d["status"] for d in store.list_deliveries()} == {"delivered"}
    assert max(most) == 4  # several at once, never more than the policy allows
    assert p.deliver_many(requests, NOW) == []  # the batch redelivered: nothing new, nothing sent
    assert len(most) == 10
