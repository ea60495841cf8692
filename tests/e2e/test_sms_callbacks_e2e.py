"""The vendors' callbacks end to end, on the real broker, store and HTTP: a follow-up
survey goes out by SMS through a local vendor that checks the real signature, the
vendor's delivery report comes back to the gateway in the vendor's own shape, and the
customer "replies" by SMS through the vendor's uplink callback: the case is verified
(or reopened for a low score) exactly as from the survey page, a second reply is
recorded and ignored, and a reply that cannot be understood becomes the owner's task.
Undelivered surveys fall back to the owner like refused ones; WeChat's
TEMPLATESENDJOBFINISH push, signature-checked, updates a reply sent by WeChat."""

from __future__ import annotations

import time

import pytest
import requests
from nameko import config

from services.gateway.vendor_callbacks import wechat_signature
from services.notify.channels.sms import fake_tencent as tencent_vendor
from services.notify.channels.sms.fake_tencent import FakeTencentSms
from services.notify.channels.wechat_oa import fake as wechat_vendor
from services.notify.channels.wechat_oa.fake import FakeWechat
from tests.conftest import wait_until
from tests.e2e.gateway_stack import feedback, gateway  # noqa: F401 - the gateway fixture
from tests.e2e.test_followup_e2e import (  # noqa: F401
    SMS,
    listener,
    policy,
    resolved_case,
    survey_config,
    survey_request,
)

pytestmark = pytest.mark.e2e

KEY = "cb-key-0123456789abcdef"
TOKEN = "wechat-server-token"
FOLLOWER = "oC-follower-1"
TENCENT: list[FakeTencentSms] = []
WECHAT: list[FakeWechat] = []


def pairs(mapping: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in mapping.items())


@pytest.fixture
def callbacks(survey_config):  # noqa: F811
    """The SMS callback key and WeChat server token; Tencent Cloud SMS and WeChat too."""
    with FakeTencentSms() as tc, FakeWechat(followers=(FOLLOWER,)) as wechat:
        TENCENT[:], WECHAT[:] = [tc], [wechat]
        values = {
            "SMS_CALLBACK_KEY": KEY,
            "WECHAT_OA_SERVER_TOKEN": TOKEN,
            "CUSTOMER_SMS_TENCENT_ENDPOINT": tc.endpoint,
            "CUSTOMER_SMS_TENCENT_SECRET_ID": tencent_vendor.SECRET_ID,
            "CUSTOMER_SMS_TENCENT_SECRET_KEY": tencent_vendor.SECRET_KEY,
            "CUSTOMER_SMS_TENCENT_SDK_APP_ID": tencent_vendor.SDK_APP_ID,
            "CUSTOMER_SMS_TENCENT_SIGN_NAME": tencent_vendor.SIGN_NAME,
            "CUSTOMER_SMS_TENCENT_TEMPLATES": pairs(tencent_vendor.CONFIG_TEMPLATES),
            "CUSTOMER_WECHAT_API": wechat.base_url,
            "CUSTOMER_WECHAT_APPID": wechat_vendor.APPID,
            "CUSTOMER_WECHAT_SECRET": wechat_vendor.SECRET,
            "CUSTOMER_WECHAT_TEMPLATES": pairs(wechat_vendor.TEMPLATES),
        }
        with config.patch(values):
            yield survey_config


@pytest.fixture
def tencent_first(callbacks):
    with config.patch({"CUSTOMER_SMS_VENDORS": "tencent,aliyun"}):
        yield callbacks


def post(gw, path: str, body, **kwargs) -> requests.Response:
    return requests.post(gw.url + path, json=body, **kwargs)


def aliyun_up(content: str, sequence: int, phone: str = "13800138000") -> list[dict]:
    """Alibaba Cloud's SmsUp as its HTTP batch push sends it."""
    return [
        {
            "phone_number": phone,
            "send_time": time.strftime("%Y-%m-%d %H:%M:%S"),
            "content": content,
            "sign_name": "体验中心",
            "dest_code": "1234",
            "sequence_id": sequence,
        }
    ]


def survey_sent(gw, event_id: str, customer: str, vendor: list) -> tuple[dict, dict, dict]:
    """A resolved case whose survey the vendor (``SMS`` or ``TENCENT``) sent: (case, request, SMS)."""
    gw.rpc.cases.apply_followup_policy(policy())
    case = resolved_case(gw, event_id, customer=customer)
    message = survey_request(case["_id"])
    sent = wait_until(lambda: next(iter(vendor[0].sent), None), message="the SMS")
    outcome_of(gw, case["_id"], "sent")
    return case, message, sent


def outcome_of(gw, case_id: str, status: str) -> dict:
    def seen():
        [fu] = gw.rpc.cases.get_case(case_id)["followups"]
        outcome = (fu.get("message") or {}).get("outcome") or {}
        return outcome if outcome.get("status") == status else None

    return wait_until(seen, message=f"the survey {status}")


def sms_reply(gw, mongo_client, db_prefix, key: str) -> dict:
    replies = mongo_client[f"{db_prefix}gateway"].sms_replies
    return wait_until(lambda: replies.find_one({"_id": key, "outcome": {"$ne": None}}), message="the reply")


def test_an_sms_reply_without_its_code_verifies_the_case_once_after_the_vendor_reports_delivery(
    callbacks,
    listener,  # noqa: F811
    gateway,  # noqa: F811
    mongo_client,
    db_prefix,  # noqa: F811
):
    gw = gateway
    case, _, sent = survey_sent(gw, "sms-happy", "C42", SMS)
    # Alibaba Cloud's SmsReport for that BizId: delivered
    report = [
        {
            "phone_number": sent["phone"], "send_time": "2026-12-06 10:00:00",
            "report_time": "2026-12-06 10:00:03", "success": True, "err_code": "DELIVERED",
            "err_msg": "用户接收成功", "sms_size": "1", "biz_id": sent["biz_id"], "out_id": sent["out_id"],
        }
    ]  # fmt: skip
    assert post(gw, f"/callbacks/sms/aliyun/{'x' * 20}/report", report).status_code == 403
    answer = post(gw, f"/callbacks/sms/aliyun/{KEY}/report", report)
    assert answer.status_code == 200 and answer.json() == {"code": 0, "msg": "接收成功"}
    delivered = outcome_of(gw, case["_id"], "delivered")
    assert delivered["channel"] == "sms" and delivered["error_code"] == "DELIVERED"

    # the customer replies "5 很好" from the number the survey went to: no code needed
    assert post(gw, f"/callbacks/sms/aliyun/{KEY}/reply", aliyun_up("5 很好", 1001)).json()["code"] == 0
    verified = wait_until(
        lambda: (c := gw.rpc.cases.get_case(case["_id"]))["status"] == "verified" and c, message="verified"
    )
    [fu] = verified["followups"]
    assert (
        fu["state"] == "answered"
        and fu["answer"]["score"] == 5
        and fu["answer"]["source"] == "followup-survey"
    )
    actions = [a["action"] for a in verified["audit"]]
    assert {"followup_message_sent", "followup_message_delivered", "followup_answered", "verified"} <= set(
        actions
    )
    assert sms_reply(gw, mongo_client, db_prefix, "aliyun:1001")["outcome"] == "answered"
    # the vendor pushes the same reply again, and the customer replies once more: recorded, ignored
    post(gw, f"/callbacks/sms/aliyun/{KEY}/reply", aliyun_up("5 很好", 1001))
    assert post(gw, f"/callbacks/sms/aliyun/{KEY}/reply", aliyun_up("1 还是不行", 1002)).status_code == 200
    second = sms_reply(gw, mongo_client, db_prefix, "aliyun:1002")
    assert second["outcome"] == "duplicate" and second["case_id"] == case["_id"]
    assert second["phone"] == "+8613****00"  # kept masked
    time.sleep(0.5)
    assert gw.rpc.cases.get_case(case["_id"])["status"] == "verified"
    # a number with no survey waiting: recorded with why
    post(gw, f"/callbacks/sms/aliyun/{KEY}/reply", aliyun_up("9", 1003, phone="13900139000"))
    stray = sms_reply(gw, mongo_client, db_prefix, "aliyun:1003")
    assert stray["outcome"] == "unmatched" and "no follow-up survey waits" in stray["reason"]
    # the case page shows the delivery; owners list the replies, none lost
    assert "已送达" in gw.login("owner").get(f"{gw.url}/cases/{case['_id']}").text
    listed = gw.api("owner", "GET", "/api/v1/sms-replies", params={"outcome": "unmatched"}).json()["items"]
    assert [(r["id"], r["phone"], r["text"]) for r in listed] == [("aliyun:1003", "+8613****00", "9")]
    assert len(gw.api("admin", "GET", "/api/v1/sms-replies").json()["items"]) == 3
    assert gw.api("agent", "GET", "/api/v1/sms-replies").status_code == 403

    # "TD" (回TD退订) answers nothing: the customer opts out of SMS, by their own reply
    assert post(gw, f"/callbacks/sms/aliyun/{KEY}/reply", aliyun_up("TD", 1004)).status_code == 200
    unsubscribed = sms_reply(gw, mongo_client, db_prefix, "aliyun:1004")
    assert unsubscribed["outcome"] == "opted_out" and unsubscribed["customer_id"] == "C42"
    consent = gw.rpc.notify.get_customer_consent("C42")
    assert consent["opt_out"]["sms"]["by"] == "customer:sms" and "'TD'" in consent["opt_out"]["sms"]["reason"]
    assert gw.rpc.cases.get_case(case["_id"])["status"] == "verified"  # no answer, no reopen

    # the customer is erased: their replies keep outcome and ids, lose text and number
    gw.rpc.profiles.erase_customer("C42", "dpo", "DSR-7")
    replies = mongo_client[f"{db_prefix}gateway"].sms_replies
    wait_until(
        lambda: replies.count_documents({"customer_id": "C42", "customer_erased_at": {"$exists": True}}) == 3,
        message="the replies anonymised",
    )
    assert all("text" not in r and "phone" not in r for r in replies.find({"customer_id": "C42"}))
    assert replies.find_one({"_id": "aliyun:1003"})["text"] == "9"  # not known to be theirs


def test_a_low_score_replied_with_the_code_to_tencent_reopens_the_case(
    tencent_first,
    listener,  # noqa: F811
    gateway,  # noqa: F811
    mongo_client,
    db_prefix,  # noqa: F811
):
    gw = gateway
    case, message, sent = survey_sent(gw, "sms-low", "C43", TENCENT)  # Tencent: the primary
    assert not SMS[0].sent and sent["params"][3] == message["context"]["reply_code"]
    code = message["context"]["reply_code"]
    reply = {"extend": "", "mobile": "13800138000", "nationcode": "86", "sign": "体验中心",
             "text": f"{code.lower()} 1 还是没修好", "time": int(time.time())}  # fmt: skip
    answer = post(gw, f"/callbacks/sms/tencent/{KEY}/reply", reply)
    assert answer.status_code == 200 and answer.json() == {"result": 0, "errmsg": "OK"}
    reopened = wait_until(
        lambda: (c := gw.rpc.cases.get_case(case["_id"]))["status"] == "reopened" and c, message="reopened"
    )
    [fu] = reopened["followups"]
    assert fu["answer"]["classification"] == "unhappy" and fu["answer"]["score"] == 1
    profile = wait_until(
        lambda: (p := gw.rpc.profiles.get_profile("C43"))["feedback_count"] == 2 and p, message="the profile"
    )
    assert profile["feedback_count"] == 2  # the answer is feedback like any other, with its comment


def test_an_undelivered_survey_becomes_the_owners_task_and_an_unreadable_reply_is_kept(
    tencent_first,
    listener,  # noqa: F811
    gateway,  # noqa: F811
    mongo_client,
    db_prefix,  # noqa: F811
):
    gw = gateway
    case, _, sent = survey_sent(gw, "sms-lost", "C44", TENCENT)
    # the customer answers something that is no score: kept, and the owner gets a task
    up = aliyun_up("请打电话给我", 2001)
    assert post(gw, f"/callbacks/sms/aliyun/{KEY}/reply", up).status_code == 200
    unread = sms_reply(gw, mongo_client, db_prefix, "aliyun:2001")
    assert unread["outcome"] == "unreadable" and unread["text"] == "请打电话给我"
    task = wait_until(
        lambda: next(iter(gw.rpc.cases.list_followups({"assignees": ["cx-care"]})), None), message="the task"
    )
    assert task["case_id"] == case["_id"] and "请打电话给我" in task["task"]["reason"]
    shown = gw.rpc.cases.get_case(case["_id"])
    assert "followup_sms_reply_unreadable" in [a["action"] for a in shown["audit"]]

    # Tencent's status callback: the survey never reached the phone
    report = [{"user_receive_time": "2026-12-06 10:00:04", "nationcode": "86", "mobile": "13800138000",
               "report_status": "FAIL", "errmsg": "MK:0001", "description": "用户停机",
               "sid": sent["serial_no"]}]  # fmt: skip
    assert post(gw, f"/callbacks/sms/tencent/{KEY}/report", report).json() == {"result": 0, "errmsg": "OK"}
    lost = outcome_of(gw, case["_id"], "undelivered")
    assert lost["error_code"] == "MK:0001"
    shown = gw.rpc.cases.get_case(case["_id"])
    undelivered = next(a for a in shown["audit"] if a["action"] == "followup_message_undelivered")
    assert "MK:0001" in undelivered["why"]
    page = gw.login("owner").get(f"{gw.url}/cases/{case['_id']}").text
    assert "未送达" in page and "MK:0001" in page


def wechat_args(timestamp: int | None = None) -> dict:
    stamp = str(timestamp or int(time.time()))
    return {"timestamp": stamp, "nonce": "nonce-1", "signature": wechat_signature(TOKEN, stamp, "nonce-1")}


def test_wechat_checks_the_server_url_and_its_template_delivery_push_updates_the_reply(
    callbacks,
    listener,  # noqa: F811
    gateway,  # noqa: F811  # noqa: F811
):
    gw = gateway
    url = gw.url + "/callbacks/wechat-oa"
    checked = requests.get(url, params={**wechat_args(), "echostr": "echo-123"})
    assert checked.status_code == 200 and checked.text == "echo-123"
    assert requests.get(url, params={"echostr": "x"}).status_code == 401
    assert (
        requests.get(url, params={**wechat_args(), "signature": "0" * 40, "echostr": "x"}).status_code == 403
    )
    assert (
        requests.get(url, params={**wechat_args(int(time.time()) - 900), "echostr": "x"}).status_code == 403
    )

    event = feedback("wx-1", customer="C-wx")
    event["customer"]["attributes"] = {"wechat_openid": FOLLOWER}
    assert gw.api("integration", "POST", "/api/v1/feedback", json=event).status_code == 202
    case = wait_until(lambda: next(iter(gw.rpc.cases.list_cases(customer="C-wx")), None), message="the case")
    body = {"text": "您好，已为您补发。", "visibility": "customer", "comment_id": "c-wx"}
    assert gw.api("owner", "POST", f"/api/v1/cases/{case['_id']}/comment", json=body).status_code == 200
    msg = wait_until(lambda: next(iter(WECHAT[0].sent), None), message="the WeChat message")
    wait_until(lambda: gw.rpc.cases.get_case(case["_id"])["comments"][0].get("delivery"), message="sent")
    xml = (
        f"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[{FOLLOWER}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>{msg['msgid']}</MsgID>"
        "<Status><![CDATA[failed:user block]]></Status></xml>"
    ).encode()
    headers = {"Content-Type": "text/xml"}
    assert requests.post(url, data=xml, headers=headers, params={"nonce": "n"}).status_code == 401
    pushed = requests.post(url, data=xml, headers=headers, params=wechat_args())
    assert pushed.status_code == 200 and pushed.text == "success"
    delivery = wait_until(
        lambda: (d := gw.rpc.cases.get_case(case["_id"])["comments"][0]["delivery"])["status"]
        == "undelivered"
        and d,
        message="the reply undelivered",
    )
    assert delivery["channel"] == "wechat_oa" and delivery["error_code"] == "failed:user block"
