import time

import pytest
from marshmallow import ValidationError

from services.notify.channels.base import Destination
from services.notify.channels.testing import sample_note
from services.notify.channels.webhook import WebhookChannel, build_body, signature, verify
from services.notify.channels.webhook.fake import FakeWebhookReceiver


@pytest.fixture
def receiver():
    with FakeWebhookReceiver() as fake:
        yield fake


def test_signed_body_is_verified_and_duplicates_are_recognised(receiver):
    d = Destination({"url": receiver.url, "secret": receiver.secret})
    note = sample_note()
    now = time.time()
    assert WebhookChannel().deliver(note, d, now).status == "delivered"
    assert WebhookChannel().deliver(note, d, now + 1).status == "delivered"  # a retry: receiver dedups
    assert len(receiver.accepted) == 1 and receiver.duplicates == 1
    payload = receiver.accepted[0].json()
    assert payload["delivery_id"] == note.delivery_id and payload["url"] == note.url
    assert receiver.accepted[0].headers["X-CX-Delivery-Id"] == note.delivery_id


def test_wrong_secret_is_a_permanent_failure(receiver):
    d = Destination({"url": receiver.url, "secret": "another-long-secret!"})
    outcome = WebhookChannel().deliver(sample_note(), d, time.time())
    assert outcome.status == "failed" and outcome.http_status == 401


def test_verify_rejects_replays_outside_the_window_and_tampering():
    body = build_body(sample_note())
    headers = {"X-CX-Timestamp": "1000", "X-CX-Signature": signature("s" * 16, 1000, body)}
    assert verify("s" * 16, headers, body, now=1100) is None
    assert verify("s" * 16, headers, body, now=1000 + 301) == "timestamp outside the replay window"
    assert verify("s" * 16, headers, body + b" ", now=1100) == "signature mismatch"


def test_a_handle_may_state_the_receivers_own_rate():
    handle = WebhookChannel.Handle().load(
        {
            "url": "http://127.0.0.1:9/h",
            "secret": "a-long-shared-secret",
            "rate": {"per_minute": 60000, "burst": 500},
        }
    )
    rate = WebhookChannel().rate_for(Destination(handle))
    assert (rate.per_minute, rate.burst) == (60000, 500)
    assert WebhookChannel().rate_for(Destination({"url": "http://127.0.0.1:9/h"})) == WebhookChannel.rate
    with pytest.raises(ValidationError) as err:
        WebhookChannel.Handle().load(
            {
                "url": "http://127.0.0.1:9/h",
                "secret": "a-long-shared-secret",
                "rate": {"per_minute": 0, "burst": 1},
            }
        )
    assert "per_minute" in err.value.messages["rate"]
