"""The vendors' callbacks read as the vendors document them, and the grammar of a
customer's SMS reply to the follow-up survey (services/gateway/sms_replies.py)."""

import time

import pytest

from services.gateway import vendor_callbacks as vendors
from services.gateway.errors import HttpError
from services.gateway.sms_replies import is_opt_out, parse


@pytest.mark.parametrize(
    "text, code, csat, nps, comment",
    [
        ("9", None, None, 9, ""),
        ("9 很好", None, None, 9, "很好"),
        ("９分，送货很快", None, None, 9, "送货很快"),  # full-width digits
        ("5", None, 5, 5, ""),
        ("满意", None, 4, 9, ""),
        ("非常满意！谢谢", None, 5, 10, "谢谢"),
        ("不满意 还是没修好", None, 2, 3, "还是没修好"),
        ("很不满意", None, 1, 0, ""),
        ("一般", None, 3, 7, ""),
        ("k7m2qx9p 4 fast", "K7M2QX9P", 4, 4, "fast"),
        ("23456789，10", "23456789", None, 10, ""),  # a code of digits only is still the code
        ("Very satisfied, thanks", None, 5, 10, "thanks"),
        ("OK", None, 3, 7, ""),
    ],
)
def test_replies_the_grammar_understands(text, code, csat, nps, comment):
    reply = parse(text)
    assert reply.problem is None and reply.code == code and reply.comment == comment
    assert reply.score("csat")[0] == csat and reply.score("nps")[0] == nps


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "empty reply"),
        ("K7M2QX9P", "no score in the reply"),
        ("什么意思", "no score or satisfaction word at the start"),
        ("100", "no score or satisfaction word at the start"),
        ("okay then", "no score or satisfaction word at the start"),
    ],
)
def test_replies_it_does_not(text, problem):
    reply = parse(text)
    assert reply.score("csat") == (None, problem)


def test_a_number_outside_the_surveys_scale_is_not_understood():
    assert parse("9").score("csat") == (None, "score 9 is outside CSAT 1-5")


def test_an_unsubscribe_reply_is_told_apart_from_an_answer():
    for text in ("T", "td", "退订", " 退订。", "ＴＤ", "K7M2QX9P TD", "STOP", "Unsubscribe", "回T退订"):
        assert is_opt_out(text), text
    for text in ("9", "满意", "不满意 退订了也没用", "T恤质量差", "5 TD", ""):
        assert not is_opt_out(text), text


def test_alibaba_reports_and_replies_in_their_documented_shape():
    report = [
        {"phone_number": "13800138000", "send_time": "2026-12-06 10:00:00",
         "report_time": "2026-12-06 10:00:05", "success": False, "err_code": "MK:0001",
         "err_msg": "用户停机", "sms_size": "1", "biz_id": "000001^0", "out_id": "CASE-1:fu0:survey"},
    ]  # fmt: skip
    [receipt] = vendors.sms_receipts("aliyun", report)
    assert receipt == {
        "channel": "sms", "vendor_id": "aliyun:000001^0", "delivered": False,
        "code": "MK:0001", "description": "用户停机", "at": "2026-12-06 10:00:05",
    }  # fmt: skip
    up = [{"phone_number": "13800138000", "send_time": "2026-12-06 10:01:00", "content": "5 很好",
           "sign_name": "体验中心", "dest_code": "1234", "sequence_id": 1234567890}]  # fmt: skip
    [sms] = vendors.sms_replies("aliyun", up)
    assert (sms.key, sms.phone, sms.text) == ("aliyun:1234567890", "+8613800138000", "5 很好")
    with pytest.raises(HttpError) as bad:
        vendors.sms_receipts("aliyun", [{"biz_id": "1", "success": "true"}])
    assert bad.value.status == 400 and "body.0.success" in str(bad.value.errors)


def test_tencent_reports_and_replies_in_their_documented_shape():
    report = [{"user_receive_time": "2026-12-06 10:00:04", "nationcode": "86", "mobile": "13800138000",
               "report_status": "SUCCESS", "errmsg": "DELIVRD", "description": "用户短信送达成功",
               "sid": "2433:0000000001"}]  # fmt: skip
    [receipt] = vendors.sms_receipts("tencent", report)
    assert receipt["vendor_id"] == "tencent:2433:0000000001" and receipt["delivered"] is True
    reply = {"extend": "", "mobile": "13800138000", "nationcode": "86", "sign": "体验中心", "text": "满意",
             "time": 1796556101}  # fmt: skip
    [sms] = vendors.sms_replies("tencent", reply)  # one object, not an array
    [again] = vendors.sms_replies("tencent", dict(reply))
    assert sms.phone == "+8613800138000" and sms.text == "满意" and sms.key == again.key


def test_the_wechat_signature_and_its_event():
    now = time.time()
    args = {"timestamp": str(int(now)), "nonce": "n1"}
    args["signature"] = vendors.wechat_signature("tok", args["timestamp"], "n1")
    vendors.check_wechat("tok", args, now)
    for given, status in (({}, 401), ({**args, "signature": "0" * 40}, 403)):
        with pytest.raises(HttpError) as refused:
            vendors.check_wechat("tok", given, now)
        assert refused.value.status == status
    with pytest.raises(HttpError) as stale:
        vendors.check_wechat("tok", args, now + 600)
    assert stale.value.status == 403
    xml = (
        b"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[oC-follower-1]]></FromUserName>"
        b"<CreateTime>1796556101</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        b"<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836</MsgID>"
        b"<Status><![CDATA[failed:user block]]></Status></xml>"
    )
    receipt = vendors.wechat_receipt(xml)
    assert receipt["vendor_id"] == "200163836" and receipt["delivered"] is False
    assert receipt["code"] == "failed:user block"
    assert vendors.wechat_receipt(b"<xml><MsgType>text</MsgType></xml>") is None


def test_the_sms_key_is_compared_whole():
    vendors.check_sms_key("k" * 20, "k" * 20)
    for given in ("k" * 19, "", "x" * 20):
        with pytest.raises(HttpError):
            vendors.check_sms_key("k" * 20, given)
    with pytest.raises(HttpError):
        vendors.check_sms_key("", "")  # not configured: every call refused


def test_the_callback_credentials_are_masked_in_logs_and_a_short_key_refused():
    from nameko import config

    from services.common.privacy import redact
    from services.gateway.dependencies import VendorCallbackSecrets

    key, token = "cb-key-for-masking-0123", "wechat-token-for-masking"
    with config.patch({"SMS_CALLBACK_KEY": key, "WECHAT_OA_SERVER_TOKEN": token}):
        provider = VendorCallbackSecrets()
        provider.setup()
    line = f"POST /callbacks/sms/aliyun/{key}/reply token={token}"
    assert key not in redact(line) and token not in redact(line)
    with config.patch({"SMS_CALLBACK_KEY": "short"}), pytest.raises(ValueError, match="SMS_CALLBACK_KEY"):
        VendorCallbackSecrets().setup()
