import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.notify.channels.testing import Answer, customer_note
from services.notify.channels.wechat_oa import MemoryTokens, WechatConfig, WechatOfficialAccountChannel
from services.notify.channels.wechat_oa import fake as vendor
from services.notify.channels.wechat_oa.fake import FakeWechat

OPENID = "oC-follower-1"


@pytest.fixture
def wechat():
    with FakeWechat(followers=(OPENID,)) as fake:
        yield fake


def channel(wechat: FakeWechat, tokens=None, **changes) -> WechatOfficialAccountChannel:
    values: dict = dict(
        api=wechat.base_url, appid=vendor.APPID, secret=vendor.SECRET, templates=vendor.TEMPLATES
    )
    values.update(changes)
    return WechatOfficialAccountChannel(
        {"wechat": WechatConfig(**values), "tokens": tokens or MemoryTokens()}
    )


def test_a_template_message_is_sent_with_a_token_fetched_once_and_cached(wechat):
    wx = channel(wechat)
    for _ in range(2):
        outcome = wx.deliver(customer_note(), OPENID, time.time())
        assert outcome.status == "delivered", outcome.error
    assert wechat.issued == 1  # the second send reused the cached token
    first = wechat.sent[0]
    assert first["touser"] == OPENID and first["template_id"] == "TPL-followup"
    assert first["url"] == "https://cx.example.com/survey/eyJjIjoiQ0FTRS0xIn0.sig"
    assert first["data"]["first"]["value"].startswith("关于您的工单「NPS 贬损者")
    assert first["data"]["keyword1"]["value"] == "CASE-1"
    sent_at = datetime.fromtimestamp(first["at"], ZoneInfo("Asia/Shanghai"))
    assert first["data"]["keyword2"]["value"] in {
        (sent_at - timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M") for m in (0, 1)
    }  # the customer's wall clock
    assert "482913" in first["data"]["remark"]["value"]
    assert outcome.detail == str(wechat.sent[1]["msgid"])


def test_a_token_the_platform_stopped_accepting_is_fetched_again_once_and_the_message_resent(wechat):
    tokens = MemoryTokens()
    wx = channel(wechat, tokens)
    assert wx.deliver(customer_note(), OPENID, time.time()).status == "delivered"
    wechat.expire_tokens()  # 42001: expired before our cache said so
    outcome = wx.deliver(customer_note(), OPENID, time.time())
    assert outcome.status == "delivered", outcome.error
    assert wechat.issued == 2 and len(wechat.sent) == 2
    assert tokens.get(vendor.APPID, time.time()) == "token-2"


def test_a_token_refused_twice_is_not_fetched_a_third_time(wechat):
    wechat.script(
        Answer(200, {"errcode": 40001, "errmsg": "invalid credential"}),  # the send with a cached token…
    )
    tokens = MemoryTokens()
    tokens.put(vendor.APPID, "token-from-elsewhere", time.time() + 3600)
    wx = channel(wechat, tokens)
    wechat.script(Answer(200, {"access_token": "token-x", "expires_in": 7200}))  # …the new token…
    wechat.script(Answer(200, {"errcode": 40001, "errmsg": "invalid credential"}))  # …refused as well
    outcome = wx.deliver(customer_note(), OPENID, time.time())
    assert outcome.status == "failed" and "40001" in (outcome.error or "")
    assert len(wechat.requests) == 3


def test_a_customer_who_does_not_follow_the_account_is_permanent_and_a_busy_platform_transient(wechat):
    outcome = channel(wechat).deliver(customer_note(), "oC-stranger", time.time())
    assert outcome.status == "failed" and "43004" in (outcome.error or "")
    wechat.script(Answer(200, {"errcode": -1, "errmsg": "system error"}))
    assert channel(wechat).deliver(customer_note(), OPENID, time.time()).status == "retry"


def test_a_wrong_secret_fails_at_the_token_and_never_shows_the_secret(wechat):
    outcome = channel(wechat, secret="wrong-secret-value").deliver(customer_note(), OPENID, time.time())
    assert outcome.status == "failed" and "40001" in (outcome.error or "")
    unreachable = channel(wechat, api="http://127.0.0.1:9", secret="wrong-secret-value")
    outcome = unreachable.deliver(customer_note(), OPENID, time.time())
    assert outcome.status == "retry" and "wrong-secret-value" not in (outcome.error or "")
    assert not wechat.sent


def test_a_purpose_without_a_registered_template_is_named():
    wx = WechatOfficialAccountChannel({"wechat": WechatConfig(appid="a", secret="s")})
    outcome = wx.deliver(customer_note(), OPENID, time.time())
    assert outcome.status == "failed" and "CUSTOMER_WECHAT_TEMPLATES" in (outcome.error or "")


def test_the_time_field_is_the_customers_wall_clock(wechat):
    from dataclasses import replace

    note = replace(customer_note(), timezone="America/New_York")
    now = datetime(2026, 12, 2, 3, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    assert channel(wechat).payload(note, OPENID, now)["data"]["keyword2"]["value"] == "2026-12-01 22:30"
