import time

import pytest

from services.notify.channels.http import Response
from services.notify.channels.sms import SmsChannel, SmsConfig, interpret, phone_number, signature
from services.notify.channels.sms import fake as vendor
from services.notify.channels.sms.fake import FakeAliyunSms
from services.notify.channels.testing import Answer, customer_note


@pytest.fixture
def sms():
    with FakeAliyunSms() as fake:
        yield fake


def channel(sms: FakeAliyunSms, **changes) -> SmsChannel:
    values: dict = dict(
        endpoint=sms.endpoint,
        access_key_id=vendor.ACCESS_KEY_ID,
        access_key_secret=vendor.ACCESS_KEY_SECRET,
        sign_name=vendor.SIGN_NAME,
        templates=vendor.CONFIG_TEMPLATES,
    )
    values.update(changes)
    return SmsChannel({"sms": SmsConfig(**values)})


def test_the_signature_matches_the_vendors_documented_example():
    # Alibaba Cloud's SMS signature document: these parameters, AccessKeySecret "testSecret"
    params = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert signature("GET", params, "testSecret") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_a_follow_up_survey_is_sent_signed_on_the_approved_template(sms):
    note = customer_note("followup_survey", "zh-CN", fmt="sms")
    outcome = channel(sms).deliver(note, "+86 138-0013-8000", time.time())
    assert outcome.status == "delivered", outcome.error
    [sent] = sms.sent
    assert outcome.detail == f"aliyun:{sent['biz_id']}"  # the vendor and its reference: receipts name them
    assert sent["phone"] == "13800138000" and sent["out_id"] == "CASE-1:followup_survey"
    assert sent["content"] == (
        "【体验中心】您好王芳，关于工单CASE-1，请花一分钟评价我们的处理："
        "https://cx.example.com/survey/eyJjIjoiQ0FTRS0xIn0.sig 或回复“482913 分数”"
    )
    # the vendor's wording is our template's: the log keeps what the customer reads
    assert sent["content"] == f"【{vendor.SIGN_NAME}】{note.text}"


def test_an_english_reply_is_sent_on_its_template_with_the_reply_cut_to_the_variable_limit(sms):
    note = customer_note(
        "case_reply", "en", fmt="sms", context={"reply_text": "x" * 80, "case_title": "Late"}
    )
    assert channel(sms).deliver(note, "13800138000", time.time()).status == "delivered"
    [sent] = sms.sent
    assert sent["template"] == "SMS_900004" and len(sent["params"]["reply"]) == 35
    assert sent["params"]["name"] == "there"


def test_a_wrong_secret_is_refused_by_the_signature_check_and_is_permanent(sms):
    outcome = channel(sms, access_key_secret="not-the-secret").deliver(
        customer_note(), "13800138000", time.time()
    )
    assert outcome.status == "failed" and "aliyun: aliyun sms SignatureDoesNotMatch" in (outcome.error or "")
    assert not sms.sent


def test_throttling_and_system_errors_are_retried_and_a_bad_number_is_not(sms):
    sms.script(Answer(200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控"}))
    outcome = channel(sms).deliver(customer_note(), "13800138000", time.time())
    assert (outcome.status, outcome.retry_after) == ("retry", 60.0)
    sms.script(Answer(500, {"Code": "isp.SYSTEM_ERROR", "Message": "system error"}))
    assert channel(sms).deliver(customer_note(), "13800138000", time.time()).status == "retry"
    outcome = channel(sms).deliver(customer_note(), "12345", time.time())
    assert outcome.status == "failed" and "isv.MOBILE_NUMBER_ILLEGAL" in (outcome.error or "")


def test_an_unreachable_endpoint_is_transient_and_a_missing_template_or_key_is_named():
    keys = dict(access_key_id="id", access_key_secret="secret", sign_name="体验中心")
    unreachable = SmsChannel(
        {"sms": SmsConfig(endpoint="http://127.0.0.1:9/", templates={"followup_survey.zh-CN": "S"}, **keys)}
    )
    assert unreachable.deliver(customer_note(), "13800138000", time.time()).status == "retry"
    outcome = SmsChannel({"sms": SmsConfig(**keys)}).deliver(customer_note(), "13800138000", time.time())
    assert outcome.status == "failed" and "CUSTOMER_SMS_TEMPLATES" in (outcome.error or "")
    assert SmsChannel({"sms": SmsConfig()}).missing() == (
        "not configured: CUSTOMER_SMS_ACCESS_KEY_ID, CUSTOMER_SMS_ACCESS_KEY_SECRET, CUSTOMER_SMS_SIGN_NAME"
    )


def test_numbers_take_the_vendors_form():
    assert phone_number("+86 138 0013 8000") == "13800138000"
    assert phone_number("0086-13800138000") == "13800138000"
    assert phone_number("+852 9123 4567") == "0085291234567"


def test_an_answer_that_is_not_json_is_read_from_its_status():
    assert interpret(Response(502, {}, b"<html>bad gateway</html>")).status == "retry"
    assert interpret(Response(403, {}, b"forbidden")).status == "failed"
