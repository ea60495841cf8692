import time

import pytest

from services.notify.channels.base import Destination
from services.notify.channels.feishu import BODY_LIMIT, FeishuChannel
from services.notify.channels.feishu.fake import FakeFeishu
from services.notify.channels.testing import Answer, long_markdown, sample_note


@pytest.fixture
def bot():
    with FakeFeishu() as fake:
        yield fake


def test_signed_card_with_mention_and_button(bot):
    d = Destination({"webhook": bot.webhook, "secret": bot.secret, "format": "card"}, user_ids=("ou_abc",))
    outcome = FeishuChannel().deliver(sample_note(), d, time.time())
    assert outcome.status == "delivered", outcome.error
    card = bot.accepted[0].json()["card"]
    assert card["header"]["template"] == "red"
    assert card["elements"][0]["text"]["content"].endswith("<at id=ou_abc></at>")
    assert card["elements"][1]["actions"][0]["url"] == "http://console.local/cases/CASE-1"


def test_text_message_mentions_with_user_id(bot):
    d = Destination({"webhook": bot.webhook, "secret": bot.secret, "format": "text"}, user_ids=("ou_abc",))
    assert FeishuChannel().deliver(sample_note("en"), d, time.time()).status == "delivered"
    assert '<at user_id="ou_abc"></at>' in bot.accepted[0].json()["content"]["text"]


def test_body_limit_and_vendor_codes(bot):
    d = Destination({"webhook": bot.webhook, "secret": bot.secret})
    assert (
        FeishuChannel().deliver(sample_note(body=long_markdown(40000)), d, time.time()).status == "delivered"
    )
    assert len(bot.accepted[0].body) <= BODY_LIMIT
    bad = Destination({"webhook": bot.webhook, "secret": "not-the-secret"})
    outcome = FeishuChannel().deliver(sample_note(), bad, time.time())
    assert outcome.status == "failed" and "19021" in outcome.error
    bot.script(Answer(200, {"code": 11232, "msg": "frequency limited"}))
    assert FeishuChannel().deliver(sample_note(), d, time.time()).status == "retry"
