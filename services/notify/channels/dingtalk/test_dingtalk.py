import time

import pytest

from services.notify.channels.base import Destination
from services.notify.channels.dingtalk import TEXT_LIMIT, DingTalkChannel, sign
from services.notify.channels.dingtalk.fake import FakeDingTalk
from services.notify.channels.testing import Answer, long_markdown, sample_note


@pytest.fixture
def robot():
    with FakeDingTalk() as fake:
        yield fake


def dest(robot, **kw):
    return Destination({"webhook": robot.webhook, "secret": robot.secret}, **kw)


def test_signed_markdown_with_mentions_is_accepted(robot):
    outcome = DingTalkChannel().deliver(
        sample_note(), dest(robot, mobiles=("13800001111",), user_ids=("manager01",)), time.time()
    )
    assert outcome.status == "delivered", outcome.error
    payload = robot.accepted[0].json()
    assert payload["msgtype"] == "markdown" and payload["markdown"]["title"].startswith("【P1·紧急】")
    assert payload["at"] == {"atMobiles": ["13800001111"], "atUserIds": ["manager01"], "isAtAll": False}
    assert "[查看工单](http://console.local/cases/CASE-1)" in payload["markdown"]["text"]


def test_sign_matches_the_documented_example_shape():
    # base64 of a 32-byte HMAC is 44 characters; '+', '/' and '=' are URL-encoded
    value = sign("SECsecret", 1700000000000)
    assert "%3D" in value and "/" not in value and "+" not in value


def test_wrong_secret_or_stale_timestamp_is_permanent(robot):
    bad = Destination({"webhook": robot.webhook, "secret": "SECwrong-secret"})
    outcome = DingTalkChannel().deliver(sample_note(), bad, time.time())
    assert outcome.status == "failed" and "310000" in outcome.error
    outcome = DingTalkChannel().deliver(sample_note(), dest(robot), time.time() - 7200)
    assert outcome.status == "failed" and "310000" in outcome.error


def test_long_text_fits_and_send_too_fast_is_transient(robot):
    note = sample_note(body=long_markdown(20000))
    assert (
        DingTalkChannel().deliver(note, dest(robot, mobiles=("13800001111",)), time.time()).status
        == "delivered"
    )
    text = robot.accepted[0].json()["markdown"]["text"]
    assert len(text.encode("utf-8")) <= TEXT_LIMIT and text.endswith("@13800001111")
    robot.script(Answer(200, {"errcode": 130101, "errmsg": "send too fast"}))
    outcome = DingTalkChannel().deliver(note, dest(robot), time.time())
    assert outcome.status == "retry" and outcome.retry_after == 600
