import pytest

from services.notify.channels.base import Destination
from services.notify.channels.slack import SECTION_LIMIT, SlackChannel
from services.notify.channels.slack.fake import FakeSlack
from services.notify.channels.testing import Answer, long_markdown, sample_note


@pytest.fixture
def hook():
    with FakeSlack() as fake:
        yield fake


def test_blocks_with_mention_and_link(hook):
    note = sample_note("en", body="*Customer*: Zhang San\n*Why*: `nps` 2")
    assert (
        SlackChannel().deliver(note, Destination({"webhook": hook.webhook}, user_ids=("U123",)), 0).status
        == "delivered"
    )
    payload = hook.accepted[0].json()
    section = payload["blocks"][1]["text"]["text"]
    assert payload["text"] == note.title and section.endswith(
        "<http://console.local/cases/CASE-1|Open the case>\n<@U123>"
    )


def test_section_limit_in_characters(hook):
    note = sample_note(body=long_markdown(9000))
    assert SlackChannel().deliver(note, Destination({"webhook": hook.webhook}), 0).status == "delivered"
    assert len(hook.accepted[0].json()["blocks"][1]["text"]["text"]) <= SECTION_LIMIT


def test_429_honours_retry_after_and_4xx_is_permanent(hook):
    hook.script(Answer(429, "rate_limited", {"Retry-After": "7"}))
    outcome = SlackChannel().deliver(sample_note(), Destination({"webhook": hook.webhook}), 0)
    assert outcome.status == "retry" and outcome.retry_after == 7
    outcome = SlackChannel().deliver(sample_note(), Destination({"webhook": hook.base_url + "/gone"}), 0)
    assert outcome.status == "failed" and "no_service" in outcome.error
