"""Tencent Cloud SMS (TC3-HMAC-SHA256) and the failover between the two SMS vendors,
against the local receivers that check each vendor's real signature."""

import hashlib
import time

import pytest

from services.notify.channels.sms import SmsChannel, SmsConfig, TencentConfig, tencent, vendor_names
from services.notify.channels.sms import fake_tencent as tencent_vendor
from services.notify.channels.sms.fake import FakeAliyunSms
from services.notify.channels.sms.fake_tencent import FakeTencentSms
from services.notify.channels.sms.test_sms import channel as aliyun_channel
from services.notify.channels.testing import Answer, customer_note

# The TencentCloud API signature v3 document's example (CVM DescribeInstances, 2019-02-25)
EXAMPLE_BODY = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'


def test_the_canonical_request_and_string_to_sign_match_the_vendors_documented_example():
    assert hashlib.sha256(EXAMPLE_BODY).hexdigest() == (
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    )
    canonical = tencent.canonical_request("cvm.tencentcloudapi.com", EXAMPLE_BODY, "DescribeInstances")
    to_sign = tencent.string_to_sign(canonical, 1551113065, service="cvm")
    assert to_sign == (
        "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
        "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
    )


@pytest.fixture
def vendors():
    with FakeAliyunSms() as aliyun, FakeTencentSms() as tc:
        yield aliyun, tc


def channel(aliyun: FakeAliyunSms, tc: FakeTencentSms, order=("aliyun", "tencent"), **tencent_changes):
    values: dict = dict(
        endpoint=tc.endpoint,
        secret_id=tencent_vendor.SECRET_ID,
        secret_key=tencent_vendor.SECRET_KEY,
        sdk_app_id=tencent_vendor.SDK_APP_ID,
        sign_name=tencent_vendor.SIGN_NAME,
        templates=tencent_vendor.CONFIG_TEMPLATES,
    )
    values.update(tencent_changes)
    ali = aliyun_channel(aliyun).config  # the Alibaba Cloud stand-in, as test_sms.py sets it up
    return SmsChannel({"sms": ali, "sms_tencent": TencentConfig(**values), "sms_vendors": order})


def test_tencent_alone_sends_the_survey_signed_with_the_variables_in_the_templates_order(vendors):
    aliyun, tc = vendors
    note = customer_note("followup_survey", "zh-CN", fmt="sms")
    outcome = channel(aliyun, tc, order=("tencent",)).deliver(note, "+86 138-0013-8000", time.time())
    assert outcome.status == "delivered", outcome.error
    [sent] = tc.sent
    assert outcome.detail == f"tencent:{sent['serial_no']}" and sent["phone"] == "+8613800138000"
    assert sent["content"] == f"【{tencent_vendor.SIGN_NAME}】{note.text}"  # the same wording as ours
    assert sent["context"] == note.message_id and not aliyun.sent


def test_a_wrong_tencent_key_is_refused_by_the_signature_check(vendors):
    aliyun, tc = vendors
    outcome = channel(aliyun, tc, order=("tencent",), secret_key="not-the-key").deliver(
        customer_note(), "13800138000", time.time()
    )
    assert outcome.status == "failed" and "AuthFailure.SignatureFailure" in (outcome.error or "")
    assert not tc.sent


def test_the_primary_failing_fails_over_to_the_secondary_in_the_same_attempt(vendors):
    aliyun, tc = vendors
    aliyun.script(Answer(503, {"Code": "ServiceUnavailable", "Message": "down"}))
    outcome = channel(aliyun, tc).deliver(customer_note(fmt="sms"), "13800138000", time.time())
    assert outcome.status == "delivered" and outcome.detail.startswith("tencent:")
    assert len(tc.sent) == 1 and not aliyun.sent
    # the primary's own permanent error (its key refused) fails over too
    bad = channel(aliyun, tc)
    bad.settings["sms"] = SmsConfig(**{**bad.settings["sms"].__dict__, "access_key_secret": "wrong"})
    assert bad.deliver(customer_note(fmt="sms"), "13800138000", time.time()).status == "delivered"
    assert len(tc.sent) == 2


def test_a_number_the_primary_refuses_is_not_tried_on_the_secondary(vendors):
    aliyun, tc = vendors
    outcome = channel(aliyun, tc).deliver(customer_note(fmt="sms"), "12345", time.time())
    assert outcome.status == "failed" and "isv.MOBILE_NUMBER_ILLEGAL" in (outcome.error or "")
    assert not tc.requests
    # and a per-number limit waits instead of going round it through the other vendor
    aliyun.script(Answer(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发小时级流控"}))
    limited = channel(aliyun, tc).deliver(customer_note(fmt="sms"), "13800138000", time.time())
    assert limited.status == "retry" and not tc.requests


def test_both_failing_is_transient_when_either_may_recover_and_names_both(vendors):
    aliyun, tc = vendors
    aliyun.script(Answer(500, {"Code": "isp.SYSTEM_ERROR", "Message": "system error"}))
    tc.script(Answer(200, {"Response": {"Error": {"Code": "InternalError.Timeout", "Message": "t"}}}))
    outcome = channel(aliyun, tc).deliver(customer_note(fmt="sms"), "13800138000", time.time())
    assert outcome.status == "retry"
    assert "aliyun: aliyun sms isp.SYSTEM_ERROR" in outcome.error and "InternalError.Timeout" in outcome.error
    tc.script(
        Answer(
            200,
            {
                "Response": {
                    "Error": {"Code": "FailedOperation.InsufficientBalanceInSmsPackage", "Message": "x"}
                }
            },
        )
    )  # noqa: E501
    only = channel(aliyun, tc, order=("tencent",)).deliver(
        customer_note(fmt="sms"), "13800138000", time.time()
    )
    assert only.status == "failed" and "InsufficientBalance" in only.error


def test_an_unconfigured_secondary_is_skipped_and_the_setting_is_checked(vendors):
    aliyun, tc = vendors
    lone = channel(aliyun, tc, secret_id="")
    assert lone.missing() is None  # the primary is enough
    aliyun.script(Answer(503, {}))
    outcome = lone.deliver(customer_note(fmt="sms"), "13800138000", time.time())
    assert (
        outcome.status == "retry"
        and "tencent not configured: CUSTOMER_SMS_TENCENT_SECRET_ID" in outcome.error
    )
    assert vendor_names(" tencent , aliyun ") == ("tencent", "aliyun")
    for wrong in ("", "aliyun,aliyun", "twilio"):
        with pytest.raises(ValueError, match="CUSTOMER_SMS_VENDORS"):
            vendor_names(wrong)


def test_numbers_take_tencents_e164_form():
    assert tencent.e164("138 0013 8000") == "+8613800138000"
    assert tencent.e164("+852 9123 4567") == "+85291234567"
