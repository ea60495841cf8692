"""What an admin's preview and test message are made of, checked before anything runs:
the context a preview renders (``simulate.load_preview``) and the request a test
message sends (``samples.sample_request``)."""

import pytest

from services.common.errors import BadRequest, NotFound
from services.notify.directory import load_directory
from services.notify.samples import sample, sample_request
from services.notify.simulate import load_preview
from services.notify.store import Recipients

CHANNELS = {"email": object(), "wecom": object()}
DIRECTORY = Recipients.of(
    load_directory(
        {
            "people": [{"id": "li.na", "name": "李娜"}],
            "teams": [{"id": "care", "name": "Care", "members": ["li.na"]}],
        }
    )
)


def test_a_preview_renders_the_payload_given_or_the_kinds_sample():
    assert load_preview("sla_warning", "email", "en", None, CHANNELS) == sample("sla_warning")
    assert load_preview("sla_warning", "wecom", "zh-CN", {"title": "t"}, CHANNELS) == {"title": "t"}


def test_a_preview_names_every_bad_argument():
    with pytest.raises(BadRequest) as info:
        load_preview("nope", "pager", "fr", ["not", "an", "object"], CHANNELS)
    assert [e.split(":")[0] for e in info.value.errors] == ["kind", "channel", "language", "payload"]


def test_a_test_message_is_the_kinds_sample_to_one_recipient_on_one_channel():
    request = sample_request("wecom", "team:care", "sla_warning", CHANNELS, DIRECTORY)
    assert request["recipient"] == {"kind": "team", "id": "care"} and request["channels"] == ["wecom"]
    assert request["context"] == sample("sla_warning") and request["level"] == "P2"
    assert request["notification_id"].startswith("test-") and request["case_id"] == "CASE-3F2A9C01B7E4"
    assert sample_request("email", "li.na", "digest", CHANNELS, DIRECTORY)["recipient"] == {
        "kind": "person",
        "id": "li.na",
    }
    first, second = (sample_request("email", "li.na", "digest", CHANNELS, DIRECTORY) for _ in range(2))
    assert first["notification_id"] != second["notification_id"]  # each test message is new


@pytest.mark.parametrize(
    "channel, to, kind, error",
    [
        ("pager", "li.na", "digest", BadRequest),
        ("email", "li.na", "nope", BadRequest),
        ("email", "ghost", "digest", NotFound),
        ("email", "robot:li.na", "digest", NotFound),
    ],
)
def test_a_test_message_refuses_an_unknown_channel_kind_or_recipient(channel, to, kind, error):
    with pytest.raises(error):
        sample_request(channel, to, kind, CHANNELS, DIRECTORY)
