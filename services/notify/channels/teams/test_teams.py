import json

import pytest

from services.notify.channels.base import Destination
from services.notify.channels.teams import MESSAGE_LIMIT, TeamsChannel
from services.notify.channels.teams.fake import FakeTeams
from services.notify.channels.testing import long_markdown, sample_note


@pytest.fixture
def flow():
    with FakeTeams() as fake:
        yield fake


def test_adaptive_card_with_open_url_and_mention(flow):
    d = Destination({"webhook": flow.webhook, "user_principal_name": "li.na@example.com"})
    outcome = TeamsChannel().deliver(sample_note(), d, 0)
    assert outcome.status == "delivered" and outcome.http_status == 202
    card = flow.accepted[0].json()["attachments"][0]["content"]
    assert card["actions"][0] == {
        "type": "Action.OpenUrl",
        "title": "查看工单",
        "url": "http://console.local/cases/CASE-1",
    }
    assert card["msteams"]["entities"][0]["mentioned"]["id"] == "li.na@example.com"


def test_every_member_with_a_teams_identity_is_mentioned(flow):
    d = Destination({"webhook": flow.webhook}, user_ids=("li.na@example.com", "emma@example.com"))
    assert TeamsChannel().deliver(sample_note(), d, 0).status == "delivered"
    card = flow.accepted[0].json()["attachments"][0]["content"]
    assert card["body"][-1]["text"] == "<at>li.na@example.com</at> <at>emma@example.com</at>"
    assert [e["mentioned"]["id"] for e in card["msteams"]["entities"]] == [
        "li.na@example.com",
        "emma@example.com",
    ]
    assert all(
        e["type"] == "mention" and e["text"] in card["body"][-1]["text"] for e in card["msteams"]["entities"]
    )


def test_message_size_limit(flow):
    assert (
        TeamsChannel()
        .deliver(sample_note(body=long_markdown(60000)), Destination({"webhook": flow.webhook}), 0)
        .status
        == "delivered"
    )
    body = flow.accepted[0].body
    assert len(body) <= MESSAGE_LIMIT and json.loads(body)  # whole, valid JSON


def test_bad_signature_in_url_is_permanent(flow):
    outcome = TeamsChannel().deliver(
        sample_note(), Destination({"webhook": flow.webhook.replace("xyz", "no")}), 0
    )
    assert outcome.status == "failed" and outcome.http_status == 401
