import pytest

from services.notify.channels.base import Destination
from services.notify.channels.testing import Answer, long_markdown, sample_note
from services.notify.channels.wecom import MARKDOWN_LIMIT, TEXT_LIMIT, WeComChannel
from services.notify.channels.wecom.fake import FakeWeCom


@pytest.fixture
def robot():
    with FakeWeCom() as fake:
        yield fake


def test_markdown_with_mention_and_link_is_accepted(robot):
    outcome = WeComChannel().deliver(
        sample_note(), Destination({"webhook": robot.webhook, "format": "markdown"}, user_ids=("lina",)), 0
    )
    assert outcome.status == "delivered"
    [request] = robot.accepted
    content = request.json()["markdown"]["content"]
    assert content.startswith("**【P1·紧急】NPS 贬损者 · 张三**")
    assert "[查看工单](http://console.local/cases/CASE-1)" in content and content.endswith("<@lina>")


def test_text_mode_mentions_by_user_id_and_mobile(robot):
    dest = Destination(
        {"webhook": robot.webhook, "format": "text"}, user_ids=("lina",), mobiles=("13800001111",)
    )
    assert WeComChannel().deliver(sample_note("en"), dest, 0).status == "delivered"
    text = robot.accepted[0].json()["text"]
    assert text["mentioned_list"] == ["lina"] and text["mentioned_mobile_list"] == ["13800001111"]
    assert "Open the case: http://console.local/cases/CASE-1" in text["content"]


@pytest.mark.parametrize("fmt,limit", [("markdown", MARKDOWN_LIMIT), ("text", TEXT_LIMIT)])
def test_long_content_fits_the_byte_limit_and_keeps_the_link(robot, fmt, limit):
    note = sample_note(body=long_markdown(), text=long_markdown())
    outcome = WeComChannel().deliver(note, Destination({"webhook": robot.webhook, "format": fmt}), 0)
    assert outcome.status == "delivered"  # the fake refuses content over the limit
    content = robot.accepted[0].json()[fmt]["content"]
    assert len(content.encode("utf-8")) <= limit and "http://console.local/cases/CASE-1" in content
    assert "…" in content


def test_rate_limit_code_is_transient_and_bad_key_permanent(robot):
    robot.script(Answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"}))
    outcome = WeComChannel().deliver(sample_note(), Destination({"webhook": robot.webhook}), 0)
    assert outcome.status == "retry" and outcome.retry_after == 60 and "45009" in outcome.error
    wrong = robot.webhook.replace("robot-key", "other")
    outcome = WeComChannel().deliver(sample_note(), Destination({"webhook": wrong}), 0)
    assert outcome.status == "failed" and "93000" in outcome.error


def test_server_errors_and_unreachable_hosts_are_transient(robot):
    robot.script(Answer(502, "bad gateway"))
    assert WeComChannel().deliver(sample_note(), Destination({"webhook": robot.webhook}), 0).status == "retry"
    robot.close()
    assert WeComChannel().deliver(sample_note(), Destination({"webhook": robot.webhook}), 0).status == "retry"
