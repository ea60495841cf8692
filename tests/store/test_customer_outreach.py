"""The customer-message runner on the real store, with the profiles service's real answer
(its queries over a real profiles database) and a local Alibaba Cloud SMS endpoint:
retries with backoff, failing for good, re-deciding after a deferral, contact fatigue
under concurrency, erasure, and outcomes announced even after a crash."""

import random
import time
from datetime import UTC, datetime, timedelta

import eventlet
import pytest

from contracts.feedback import parse_feedback
from services.common.messaging import serialize
from services.common.mongo import jsonable
from services.notify.channels.sms import SmsChannel, SmsConfig
from services.notify.channels.sms import fake as vendor
from services.notify.channels.sms.fake import FakeAliyunSms
from services.notify.channels.testing import Answer, customer_request
from services.notify.customers.decision import Rules
from services.notify.customers.outreach import Outreach
from services.notify.customers.store import BUSY, FATIGUED, RESERVED
from services.notify.policy import Policy
from services.notify.render import Renderer
from services.notify.store import NotifyStore
from services.profiles.recordings import feedback_recording
from services.profiles.store import ProfileStore

POLICY = Policy(max_attempts=3, backoff_base=2.0, backoff_cap=10.0, lease=30.0)
RULES = Rules(fatigue_limit=3, fatigue_days=7, quiet_hours=None)


@pytest.fixture
def stores(mongo_client, db_prefix):
    profiles = ProfileStore(mongo_client[f"{db_prefix}profiles"])
    notify = NotifyStore(mongo_client[f"{db_prefix}notify"])
    for store in (profiles, notify):
        store.ensure_indexes()
    return profiles, notify


@pytest.fixture
def sms():
    with FakeAliyunSms() as fake:
        yield fake


def known(
    profiles: ProfileStore,
    customer_id: str,
    phone: str = "13800138000",
    days_ago: float = 30,
    n: int = 1,
    **more,
):
    """The customer as the profiles service records them from their feedback."""
    for i in range(n):
        at = datetime.now(UTC) - timedelta(days=days_ago, minutes=i)
        event = {
            "schema_version": 1,
            "event_id": f"{customer_id}-{days_ago}-{i}",
            "source": "survey-app",
            "channel": "web",
            "occurred_at": at.isoformat(),
            "customer": {"id": customer_id, "name": "王芳", "phone": phone, **more},
            "scores": {"nps": 4},
        }
        profiles.recorder.record_many([feedback_recording(parse_feedback(event))])


def outreach(profiles, notify, sms, announced: list, rules=RULES, announce=None) -> Outreach:
    config = SmsConfig(
        endpoint=sms.endpoint,
        access_key_id=vendor.ACCESS_KEY_ID,
        access_key_secret=vendor.ACCESS_KEY_SECRET,
        sign_name=vendor.SIGN_NAME,
        templates=vendor.CONFIG_TEMPLATES,
    )

    def lookup(customer_id: str, days: int) -> dict:  # what profiles.customer_contact answers over RPC
        return jsonable(profiles.queries.customer_contact(customer_id, days))

    return Outreach(
        notify.customers,
        {"sms": SmsChannel({"sms": config})},
        Renderer(),
        lookup,
        rules,
        POLICY,
        # as the service dispatches it: checked against the contract on the way out
        announce or (lambda payload: announced.append(serialize("customer_message_outcome", payload))),
        rng=lambda: 1.0,  # the whole backoff: base × 2^(n−1)
    )


def ask(message_id: str, customer_id: str = "C1", **extra) -> dict:
    payload = customer_request("followup_survey", "zh-CN", message_id=message_id, customer_id=customer_id)
    return {**payload, "channels": ["sms"], **extra}


def test_a_transient_failure_is_retried_after_backoff_and_then_sent(stores, sms):
    profiles, notify = stores
    known(profiles, "C1")
    announced: list = []
    run = outreach(profiles, notify, sms, announced)
    sms.script(Answer(500, {"Code": "isp.SYSTEM_ERROR"}), Answer(500, {"Code": "isp.SYSTEM_ERROR"}))
    now = float(int(time.time()))  # whole seconds: the embedded server keeps ~6 decimals
    run.accept([ask("m1")], now)
    doc = notify.customers.get("m1")
    assert (doc["status"], doc["attempts"], doc["next_attempt_at"]) == ("scheduled", 1, now + 2.0)
    assert run.run(now + 1.9) == 0  # not due yet
    assert run.run(now + 2.0) == 1
    assert notify.customers.get("m1")["next_attempt_at"] == now + 2.0 + 4.0
    run.run(now + 6.0)
    [outcome] = announced
    assert (outcome["status"], outcome["channel"]) == ("sent", "sms")
    doc = notify.customers.with_log("m1")
    assert doc["attempts"] == 3 and doc["announced"]
    assert [e["status"] for e in doc["log"] if e["event"] == "attempt"] == ["retry", "retry", "delivered"]
    assert len(sms.sent) == 1 and notify.db.customer_contacts.count_documents({"customer_id": "C1"}) == 1


def test_failed_for_good_is_announced_with_the_error_and_counts_no_contact(stores, sms):
    profiles, notify = stores
    known(profiles, "C1")
    announced: list = []
    run = outreach(profiles, notify, sms, announced)
    sms.script(*[Answer(500, {"Code": "isp.SYSTEM_ERROR", "Message": "system error"})] * 3)
    now = float(int(time.time()))  # whole seconds: the embedded server keeps ~6 decimals
    run.accept([ask("m1")], now)
    run.run(now + 2)
    run.run(now + 6)
    [outcome] = announced
    assert outcome["status"] == "failed" and outcome["channel"] is None
    assert "sms: aliyun: aliyun sms isp.SYSTEM_ERROR" in outcome["reason"]
    assert notify.db.customer_contacts.count_documents({}) == 0
    # a number the vendor refuses fails at once: permanent errors are not retried
    announced.clear()
    known(profiles, "C2", phone="12345")
    run.accept([ask("m2", "C2")], now)
    [outcome] = announced
    assert outcome["status"] == "failed" and "isv.MOBILE_NUMBER_ILLEGAL" in outcome["reason"]


def test_a_deferred_message_decides_again_when_released(stores, sms):
    profiles, notify = stores
    known(profiles, "C1")
    announced: list = []
    quiet = Rules(fatigue_limit=3, quiet_hours={"start": "00:00", "end": "23:59"}, default_timezone="UTC")
    run = outreach(profiles, notify, sms, announced, rules=quiet)
    now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()
    run.accept([ask("m1", not_after=datetime(2026, 12, 3, tzinfo=UTC))], now)
    doc = notify.customers.get("m1")
    assert doc["status"] == "deferred" and doc["next_attempt_at"] == now + 13 * 3600 + 59 * 60
    notify.customers.set_opt_out("C1", "all", True, "agent.li", "客户要求")
    run.run(doc["next_attempt_at"])
    [outcome] = announced
    assert (outcome["status"], outcome["reason"]) == ("refused", "opted_out")
    assert not sms.requests


def test_concurrent_reservations_for_one_customer_take_exactly_the_allowed_contacts(stores):
    _, notify = stores
    now = float(int(time.time()))  # whole seconds: the embedded server keeps ~6 decimals
    results: dict[str, str] = {}

    def take(message_id: str) -> None:
        eventlet.sleep(random.random() / 100)
        while True:
            got = notify.customers.reserve("C1", message_id, "sms", 2, now - 86400, now, 5.0)
            if got != BUSY:
                results[message_id] = got
                return
            eventlet.sleep(0.01)

    pool = eventlet.GreenPool(10)
    for n in range(10):
        pool.spawn(take, f"m{n}")
    pool.waitall()
    assert sorted(results.values()).count(RESERVED) == 2
    assert sorted(results.values()).count(FATIGUED) == 8
    assert notify.db.customer_contacts.count_documents({"customer_id": "C1"}) == 2
    # a message that already holds its contact keeps it (a retry decides again)
    holder = next(m for m, r in results.items() if r == RESERVED)
    assert notify.customers.reserve("C1", holder, "sms", 2, now - 86400, now, 5.0) == RESERVED


def test_feedback_and_sent_messages_together_make_a_customer_fatigued(stores, sms):
    profiles, notify = stores
    known(profiles, "C1", days_ago=1, n=2)  # two pieces of feedback this week
    announced: list = []
    run = outreach(profiles, notify, sms, announced)
    now = float(int(time.time()))  # whole seconds: the embedded server keeps ~6 decimals
    run.accept([ask("m1"), ask("m2")], now)
    assert [(o["message_id"], o["status"], o["reason"]) for o in announced] == [
        ("m1", "sent", None),
        ("m2", "refused", "fatigued"),
    ]
    assert len(sms.sent) == 1
    assert notify.stats()["customer_messages"] == {
        "by_status": {"sent": 1, "refused": 1},
        "refused_by_reason": {"fatigued": 1},
    }


def test_an_erased_customer_is_never_contacted_even_before_profiles_knows(stores, sms):
    profiles, notify = stores
    known(profiles, "C1")
    announced: list = []
    run = outreach(profiles, notify, sms, announced)
    notify.customers.mark_erased(["C1"])  # customer_erased reached notify first
    run.accept([ask("m1")], time.time())
    assert [(o["status"], o["reason"]) for o in announced] == [("refused", "no_contact")]
    assert not sms.requests
    assert notify.customers.get("m1")["request"]["context"]["survey_url"]  # kept: erased before it came
    notify.customers.mark_erased(["C1"])
    assert notify.customers.get("m1")["request"]["context"] == {}


def test_an_outcome_left_unannounced_by_a_crash_is_announced_by_the_sweep(stores, sms):
    profiles, notify = stores
    known(profiles, "C1")
    announced: list = []

    def broken(payload):
        raise ConnectionError("broker gone")

    now = float(int(time.time()))  # whole seconds: the embedded server keeps ~6 decimals
    with pytest.raises(ConnectionError):
        outreach(profiles, notify, sms, announced, announce=broken).accept([ask("m1")], now)
    assert notify.customers.get("m1")["status"] == "sent" and len(sms.sent) == 1
    run = outreach(profiles, notify, sms, announced)
    run.run(now + 1)  # too early: the worker may still be announcing it
    assert announced == []
    run.run(now + POLICY.lease + 1)
    assert [(o["message_id"], o["status"]) for o in announced] == [("m1", "sent")]
    run.run(now + POLICY.lease + 2)
    assert len(announced) == 1 and len(sms.sent) == 1


def test_profiles_not_answering_decides_again_later_and_sends_nothing_meanwhile(stores, sms):
    profiles, notify = stores
    known(profiles, "C1")
    announced: list = []
    run = outreach(profiles, notify, sms, announced)
    working = run.lookup

    def away(customer_id, days):
        raise TimeoutError("profiles did not answer")

    run.lookup = away
    now = float(int(time.time()))
    run.accept([ask("m1")], now)
    doc = notify.customers.with_log("m1")
    assert (doc["status"], doc["next_attempt_at"]) == ("scheduled", now + 30)
    assert doc["log"][0]["event"] == "lookup_failed" and "profiles did not answer" in doc["log"][0]["error"]
    assert not sms.requests and not announced
    run.lookup = working
    run.run(now + 30)
    assert [o["status"] for o in announced] == ["sent"]


def test_another_worker_deciding_for_the_customer_makes_this_one_decide_again_a_second_later(stores, sms):
    profiles, notify = stores
    known(profiles, "C1")
    announced: list = []
    run = outreach(profiles, notify, sms, announced)
    now = float(int(time.time()))
    notify.db.customer_contact_locks.insert_one({"_id": "C1", "lease_until": now + 5, "holder": "other"})
    run.accept([ask("m1")], now)
    doc = notify.customers.with_log("m1")
    assert (doc["status"], doc["next_attempt_at"]) == ("scheduled", now + 1)
    assert doc["log"][-1]["event"] == "customer_busy" and not sms.requests
    run.run(now + 6)  # the other worker's lock has lapsed
    assert [o["status"] for o in announced] == ["sent"]


def test_a_channel_without_credentials_hands_the_message_to_the_next_one(stores, sms):
    from services.notify.channels.wechat_oa import WechatConfig, WechatOfficialAccountChannel

    profiles, notify = stores
    event = {
        "schema_version": 1,
        "event_id": "wx-1",
        "source": "survey-app",
        "channel": "wechat",
        "occurred_at": (datetime.now(UTC) - timedelta(days=30)).isoformat(),
        "customer": {"id": "C1", "phone": "13800138000", "attributes": {"wechat_openid": "oC-1"}},
        "scores": {"nps": 4},
    }
    profiles.recorder.record_many([feedback_recording(parse_feedback(event))])
    announced: list = []
    run = outreach(profiles, notify, sms, announced)
    run.channels["wechat_oa"] = WechatOfficialAccountChannel({"wechat": WechatConfig()})
    run.accept([ask("m1", channels=["wechat_oa", "sms"])], time.time())
    assert [(o["status"], o["channel"]) for o in announced] == [("sent", "sms")]
    attempts = [e for e in notify.customers.with_log("m1")["log"] if e["event"] == "attempt"]
    assert attempts[0]["error"] == "wechat_oa not configured: CUSTOMER_WECHAT_APPID, CUSTOMER_WECHAT_SECRET"


def test_an_opt_out_recorded_under_the_surviving_id_applies_to_a_merged_ones_request(stores, sms):
    profiles, notify = stores
    known(profiles, "C-old")
    known(profiles, "C-new", days_ago=40)
    profiles.identity.merge(
        survivor="C-new", merged="C-old", by="admin", reason="same person", now=datetime.now(UTC)
    )
    notify.customers.set_opt_out("C-new", "sms", True, "agent.li", None)
    announced: list = []
    outreach(profiles, notify, sms, announced).accept([ask("m1", "C-old")], time.time())
    assert [(o["customer_id"], o["status"], o["reason"]) for o in announced] == [
        ("C-old", "refused", "opted_out")
    ]


def test_what_a_slow_batch_cannot_reach_in_a_quarter_of_its_lease_goes_to_the_sweep(stores, sms):
    from dataclasses import replace

    from services.notify.channels.wechat_oa import WechatConfig, WechatOfficialAccountChannel

    profiles, notify = stores
    known(profiles, "C1", attributes={"wechat_openid": "oC-1"})
    announced: list = []
    run = outreach(profiles, notify, sms, announced)
    run.policy = replace(POLICY, lease=0.0)  # no time at all: everything is handed over
    now = float(int(time.time()))
    run.accept([ask("m1"), ask("m2")], now)
    assert [notify.customers.get(m)["status"] for m in ("m1", "m2")] == ["scheduled", "scheduled"]
    assert not sms.requests and not announced
    run.policy = POLICY
    run.run(now + 1)
    assert sorted(o["message_id"] for o in announced) == ["m1", "m2"]
    # a channel failing for good after the time is up: the next one waits for the sweep
    announced.clear()
    run.channels["wechat_oa"] = WechatOfficialAccountChannel({"wechat": WechatConfig()})
    notify.db.customer_contacts.delete_many({})
    run.policy = replace(POLICY, lease=0.0)
    run.process({**notify.customers.create_many([_doc("m3", now)], now + 5)[0]}, now)
    doc = notify.customers.get("m3")
    assert (doc["status"], doc["tried"], doc["attempts"]) == ("scheduled", ["wechat_oa"], 1)
    run.policy = POLICY
    run.run(now + 1)
    assert [(o["message_id"], o["channel"]) for o in announced] == [("m3", "sms")]


def _doc(message_id: str, now: float) -> dict:
    from services.notify.customers.outreach import message_doc

    return message_doc(ask(message_id, channels=["wechat_oa", "sms"]), now)


def test_a_vendor_quoting_the_number_it_refused_is_kept_and_announced_masked(stores, sms):
    profiles, notify = stores
    known(profiles, "C1")
    announced: list = []
    run = outreach(profiles, notify, sms, announced)
    sms.script(Answer(200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "号码 13800138000 非法"}))
    run.accept([ask("m1")], time.time())
    [outcome] = announced
    assert outcome["status"] == "failed" and "138****8000" in outcome["reason"]
    assert "13800138000" not in str(notify.customers.with_log("m1"))
