"""Messages to customers end to end on the real broker and store: a request from cases
is decided by notify with the customer's details from the profiles service, sent to a
local Alibaba Cloud SMS endpoint that checks the signature, or refused with its reason
(opted out, fatigued, erased) with nothing sent; a request in the customer's quiet hours
goes out when they end; a WeChat token the platform stopped accepting is renewed; and
profiles counts what was sent as a contact."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import eventlet
import pytest
from kombu import Connection, Queue
from nameko import config
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcClient

from services.common.messaging import HEADER_REASON, serialize
from services.common.mongo import database_name
from services.notify.channels.sms import fake as sms_vendor
from services.notify.channels.sms.fake import FakeAliyunSms
from services.notify.channels.testing import customer_request
from services.notify.channels.wechat_oa import fake as wechat_vendor
from services.notify.channels.wechat_oa.fake import FakeWechat
from services.notify.service import NotifyService
from services.profiles.service import ProfilesService
from tests.conftest import wait_until
from tests.e2e.test_cxctl import run as cx
from tests.e2e.test_pipeline import publish

OUTCOMES: list[dict] = []
FOLLOWER = "oC-follower-1"


class OutcomeListener:
    name = "customer_outcome_listener"

    @event_handler("notify", "customer_message_outcome")
    def seen(self, payload):
        OUTCOMES.append(payload)


def pairs(mapping: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in mapping.items())


@pytest.fixture
def vendors():
    with FakeAliyunSms() as sms, FakeWechat(followers=(FOLLOWER,)) as wechat:
        yield sms, wechat


def start(runner_factory, container_factory, sms, wechat, **settings):
    values = {
        "CUSTOMER_SMS_ENDPOINT": sms.endpoint,
        "CUSTOMER_SMS_ACCESS_KEY_ID": sms_vendor.ACCESS_KEY_ID,
        "CUSTOMER_SMS_ACCESS_KEY_SECRET": sms_vendor.ACCESS_KEY_SECRET,
        "CUSTOMER_SMS_SIGN_NAME": sms_vendor.SIGN_NAME,
        "CUSTOMER_SMS_TEMPLATES": pairs(sms_vendor.CONFIG_TEMPLATES),
        "CUSTOMER_WECHAT_API": wechat.base_url,
        "CUSTOMER_WECHAT_APPID": wechat_vendor.APPID,
        "CUSTOMER_WECHAT_SECRET": wechat_vendor.SECRET,
        "CUSTOMER_WECHAT_TEMPLATES": pairs(wechat_vendor.TEMPLATES),
        "CUSTOMER_QUIET_HOURS": "none",
        "CUSTOMER_FATIGUE_LIMIT": 2,
        "CUSTOMER_FATIGUE_DAYS": 7,
        **settings,
    }
    patch = config.patch(values)
    patch.start()
    OUTCOMES.clear()
    container_factory(OutcomeListener).start()
    runner = runner_factory(ProfilesService, NotifyService)
    runner.start()
    return patch


def feedback(event_id: str, customer: dict, days_ago: float = 60) -> dict:
    at = datetime.now(UTC) - timedelta(days=days_ago)
    return {
        "schema_version": 1,
        "event_id": event_id,
        "source": "survey-app",
        "occurred_at": at.isoformat(),
        "customer": customer,
        "channel": "web",
        "touchpoint": "delivery",
        "scores": {"nps": 3},
        "text": "快递太慢了",
    }


def feedback_count(rpc, customer_id: str) -> int:
    """How many feedback events the profile holds (0 before it exists)."""
    try:
        return rpc.profiles.get_profile(customer_id)["feedback_count"]
    except RemoteError:
        return 0


def request(message_id: str, customer_id: str, **extra) -> dict:
    payload = customer_request("followup_survey", "zh-CN", message_id=message_id, customer_id=customer_id)
    payload["requested_at"] = datetime.now(UTC)
    payload["channels"] = ["sms"]
    payload.update(extra)
    return payload


def ask(*requests: dict) -> None:
    dispatch = event_dispatcher()
    for payload in requests:
        dispatch("cases", "customer_message_requested", serialize("customer_message_requested", payload))


def outcome_of(message_id: str) -> dict:
    return wait_until(
        lambda: next((o for o in OUTCOMES if o["message_id"] == message_id), None),
        timeout=30,
        message=f"the outcome of {message_id}",
    )


def test_sent_with_a_valid_signature_or_refused_with_the_reason_and_nothing_sent(
    cx_config, runner_factory, container_factory, vendors, mongo_client
):
    sms, wechat = vendors
    patch = start(runner_factory, container_factory, sms, wechat)
    try:
        customers = {
            "C-ok": {"id": "C-ok", "name": "王芳", "phone": "+86 138-0013-8000"},
            "C-opt": {"id": "C-opt", "phone": "13900139000"},
            "C-tired": {"id": "C-tired", "phone": "13700137000"},
            "C-gone": {"id": "C-gone", "name": "赵六", "phone": "13600136000"},
        }
        events = [feedback(f"{cid}-1", c) for cid, c in customers.items()]
        # two pieces of feedback this week: at the limit of 2 contacts in 7 days
        events += [feedback(f"C-tired-{n}", customers["C-tired"], days_ago=n) for n in (2, 3)]
        publish(cx_config["AMQP_URI"], *events)
        with ClusterRpcClient(timeout=15) as rpc:
            wait_until(
                lambda: all(feedback_count(rpc, cid) for cid in customers)
                and feedback_count(rpc, "C-tired") == 3,
                message="the profiles",
            )
            uri = cx_config["AMQP_URI"]
            code, out = cx(
                uri, "notify", "customers", "opt-out", "C-opt", "--channel", "sms", "--by", "agent.li"
            )
            assert code == 0 and "C-opt sms: opted out by agent.li" in out, out
            # an opt-out of everything, withdrawn: the sms one alone holds (RPC, as the console does it)
            rpc.notify.set_customer_opt_out(
                "C-opt", channel="all", by="agent.li", reason="客户来电要求不再联系"
            )
            rpc.notify.set_customer_opt_out("C-opt", channel="all", opted_out=False, by="agent.wang")
            rpc.profiles.erase_customer("C-gone", by="dpo", request_ref="DSR-9")
            first = request("fu-ok:survey", "C-ok")
            ask(first, first, request("fu-opt:survey", "C-opt"), request("fu-tired:survey", "C-tired"))
            ask(request("fu-gone:survey", "C-gone"))

            sent = outcome_of("fu-ok:survey")
            assert (sent["status"], sent["channel"], sent["reason"]) == ("sent", "sms", None)
            assert sent["purpose"] == "followup_survey" and sent["case_id"] == "CASE-1"
            for message_id, reason in (
                ("fu-opt:survey", "opted_out"),
                ("fu-tired:survey", "fatigued"),
                ("fu-gone:survey", "no_contact"),
            ):
                refused = outcome_of(message_id)
                assert (refused["status"], refused["reason"], refused["channel"]) == ("refused", reason, None)

            # the vendor accepted exactly one message, signed, for the one customer who may be contacted
            [message] = sms.sent
            assert message["phone"] == "13800138000" and message["out_id"] == "fu-ok:survey"
            assert "482913" in message["content"] and message["content"].startswith("【体验中心】您好王芳")
            assert len(sms.requests) == 1  # the repeated request sent nothing more
            stored = rpc.notify.get_customer_message("fu-tired:survey")
            assert (
                stored["status"] == "refused"
                and stored["log"][-1]["detail"] == "2 contacts in 7 days (limit 2)"
            )
            consent = rpc.notify.get_customer_consent("C-opt")
            assert (
                consent["opt_out"]["sms"]["by"] == "agent.li"
                and consent["opt_out"]["sms"]["opted_out"] is True
            )

            # profiles records what was sent as a contact, which fatigue counts
            def counted():
                fatigue = rpc.profiles.contact_fatigue("C-ok", days=7)
                return fatigue if fatigue["outbound"] == 1 else None

            fatigue = wait_until(counted, message="the sent message on the profile")
            assert fatigue["contacts"] == 1 and fatigue["feedback"] == 0
            profile = rpc.profiles.get_profile("C-ok")
            assert profile["last_outreach"]["channel"] == "sms"
            timeline = profile["timeline"]
            assert [e["purpose"] for e in timeline if e["kind"] == "customer_message"] == ["followup_survey"]
            assert rpc.profiles.contact_fatigue("C-opt", days=7)["outbound"] == 0  # refusals are no contact
            # profiles' customer_erased reached notify too: its own mark keeps C-gone uncontacted
            wait_until(lambda: rpc.notify.get_customer_consent("C-gone").get("erased_at"), message="the mark")
        db = mongo_client[database_name("notify")]
        assert db.customer_contacts.count_documents({}) == 1
    finally:
        patch.stop()


def test_a_request_that_cannot_be_sent_is_dead_lettered_naming_the_field_and_its_batch_goes_on(
    cx_config, runner_factory, container_factory, vendors
):
    sms, wechat = vendors
    patch = start(runner_factory, container_factory, sms, wechat)
    try:
        publish(cx_config["AMQP_URI"], feedback("C-ok-1", {"id": "C-ok", "phone": "13800138000"}))
        with ClusterRpcClient(timeout=15) as rpc:
            wait_until(lambda: feedback_count(rpc, "C-ok"), message="the profile")
        bad = request("fu-bad:survey", "C-ok")
        bad["context"] = {key: v for key, v in bad["context"].items() if key != "survey_url"}
        ask(bad, request("fu-good:survey", "C-ok"))
        assert outcome_of("fu-good:survey")["status"] == "sent"
        queue_name = "evt-cases-customer_message_requested--notify.handle_customer_message_requested.dlq"
        with Connection(cx_config["AMQP_URI"]) as conn:
            queue = Queue(queue_name, no_declare=True)(conn.default_channel)
            letter = wait_until(lambda: queue.get(no_ack=True), message="the dead letter")
        assert letter.headers[HEADER_REASON] == (
            "message fu-bad:survey: context.survey_url: a non-empty text is required for followup_survey"
        )
        assert [m["out_id"] for m in sms.sent] == ["fu-good:survey"]
        assert all(o["message_id"] != "fu-bad:survey" for o in OUTCOMES)
    finally:
        patch.stop()


def test_a_request_in_the_customers_quiet_hours_is_sent_when_they_end(
    cx_config, runner_factory, container_factory, vendors, mongo_client
):
    sms, wechat = vendors
    zone = ZoneInfo("Asia/Kathmandu")  # UTC+05:45: the customer's zone, not the server's
    now = datetime.now(UTC)
    if now.second > 45:  # leave the minute room to start the services
        eventlet.sleep(61 - now.second)
    local = datetime.now(zone)
    end = (local + timedelta(minutes=1)).replace(second=0, microsecond=0)
    quiet = f"{local:%H:%M}-{end:%H:%M}"
    patch = start(runner_factory, container_factory, sms, wechat, CUSTOMER_QUIET_HOURS=quiet)
    try:
        customer = {"id": "C-nepal", "phone": "13800138001", "attributes": {"timezone": "Asia/Kathmandu"}}
        publish(cx_config["AMQP_URI"], feedback("C-nepal-1", customer))
        with ClusterRpcClient(timeout=15) as rpc:
            wait_until(lambda: feedback_count(rpc, "C-nepal"), message="the profile")
            ask(request("fu-nepal:survey", "C-nepal"))

            def deferred():
                try:
                    doc = rpc.notify.get_customer_message("fu-nepal:survey")
                except RemoteError:  # not stored yet
                    return None
                return doc if doc["status"] == "deferred" else None

            doc = wait_until(deferred, message="the deferral")
            assert doc["next_attempt_at"] == end.timestamp()
            assert doc["log"][0]["detail"] == "quiet hours in Asia/Kathmandu"
            assert not sms.requests and not OUTCOMES
            sent = outcome_of_after("fu-nepal:survey", 90)
            assert sent["status"] == "sent"
            [request_seen] = sms.requests
            assert request_seen.at >= end.timestamp()
            assert datetime.fromisoformat(sent["finished_at"]) >= end
    finally:
        patch.stop()


def outcome_of_after(message_id: str, timeout: float) -> dict:
    return wait_until(
        lambda: next((o for o in OUTCOMES if o["message_id"] == message_id), None),
        timeout=timeout,
        message=f"the outcome of {message_id}",
    )


def test_a_wechat_token_the_platform_stopped_accepting_is_renewed_and_a_failed_channel_falls_to_the_next(
    cx_config, runner_factory, container_factory, vendors, mongo_client
):
    sms, wechat = vendors
    patch = start(runner_factory, container_factory, sms, wechat)
    try:
        follower = {"id": "C-wx", "phone": "13800138002", "attributes": {"wechat_openid": FOLLOWER}}
        stranger = {"id": "C-wx2", "phone": "13800138003", "attributes": {"wechat_openid": "oC-unfollowed"}}
        publish(cx_config["AMQP_URI"], feedback("C-wx-1", follower), feedback("C-wx2-1", stranger))
        db = mongo_client[database_name("notify")]
        with ClusterRpcClient(timeout=15) as rpc:
            wait_until(
                lambda: feedback_count(rpc, "C-wx") and feedback_count(rpc, "C-wx2"),
                message="the profiles",
            )
            reply = {"purpose": "case_reply", "channels": ["wechat_oa", "sms"]}
            reply["context"] = {
                "reply_text": "已为您补发，单号 SF123",
                "case_title": "快递延误",
                "author": "li.na",
            }
            ask(request("CASE-1:reply:c1", "C-wx", **reply))
            assert outcome_of("CASE-1:reply:c1")["channel"] == "wechat_oa"
            assert db.wechat_tokens.find_one()["token"] == "token-1"
            wechat.expire_tokens()  # the platform stops accepting token-1 (expired early, or replaced)
            ask(request("CASE-1:reply:c2", "C-wx", **reply))
            second = outcome_of("CASE-1:reply:c2")
            assert (second["status"], second["channel"]) == ("sent", "wechat_oa")
            assert wechat.issued == 2 and db.wechat_tokens.find_one()["token"] == "token-2"
            assert [m["template_id"] for m in wechat.sent] == ["TPL-reply", "TPL-reply"]
            assert "SF123" in wechat.sent[1]["data"]["remark"]["value"]

            # a customer who does not follow the account: WeChat refuses for good, SMS takes it
            ask(request("CASE-2:reply:c3", "C-wx2", **reply))
            fell = outcome_of("CASE-2:reply:c3")
            assert (fell["status"], fell["channel"]) == ("sent", "sms")
            doc = rpc.notify.get_customer_message("CASE-2:reply:c3")
            attempts = [e for e in doc["log"] if e["event"] == "attempt"]
            assert [(a["channel"], a["status"]) for a in attempts] == [
                ("wechat_oa", "failed"),
                ("sms", "delivered"),
            ]
            assert "43004" in attempts[0]["error"] and doc["tried"] == ["wechat_oa"]
            assert sms.sent[-1]["template"] == "SMS_900003"
    finally:
        patch.stop()


def test_two_replicas_never_exceed_a_customers_contact_limit(
    cx_config, runner_factory, container_factory, vendors, mongo_client
):
    sms, wechat = vendors
    patch = start(runner_factory, container_factory, sms, wechat)  # limit: 2 contacts in 7 days
    try:
        container_factory(NotifyService).start()  # a second notify replica on the same queue
        publish(cx_config["AMQP_URI"], feedback("C-busy-1", {"id": "C-busy", "phone": "13800138009"}))
        with ClusterRpcClient(timeout=15) as rpc:
            wait_until(lambda: feedback_count(rpc, "C-busy"), message="the profile")
        ask(*[request(f"CASE-{n}:reply:r{n}", "C-busy") for n in range(8)])
        outcomes = [outcome_of(f"CASE-{n}:reply:r{n}") for n in range(8)]
        statuses = sorted((o["status"], o["reason"]) for o in outcomes)
        assert statuses == [("refused", "fatigued")] * 6 + [("sent", None)] * 2, statuses
        assert len(sms.sent) == 2
        db = mongo_client[database_name("notify")]
        assert db.customer_contacts.count_documents({"customer_id": "C-busy"}) == 2
    finally:
        patch.stop()
