"""Forgery and replay against the signed generic webhook, over real HTTP.

The receiver is services/notify/channels/webhook/fake.py, which verifies with
``WebhookVerifier`` exactly as docs/security.md tells integrators to. Every
forged or replayed request is refused with 401 and the reason; a genuine retry
of a delivery is acknowledged as a duplicate and acted on once.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

from services.common.errors import BadRequest
from services.notify.channels.base import Destination, NotConfigured
from services.notify.channels.testing import sample_note
from services.notify.channels.webhook import REPLAY_WINDOW, WebhookChannel, build_body, signature
from services.notify.channels.webhook.fake import FakeWebhookReceiver
from services.notify.directory import load_directory

SECRET = "a-long-shared-secret"


@pytest.fixture
def receiver():
    with FakeWebhookReceiver(SECRET) as fake:
        yield fake


def post(receiver, body: bytes, headers: dict) -> requests.Response:
    return requests.post(
        receiver.url, data=body, headers={"Content-Type": "application/json", **headers}, timeout=5
    )


def signed(body: bytes, at: int, secret: str = SECRET, delivery_id: str | None = None) -> dict:
    delivery_id = delivery_id or json.loads(body)["delivery_id"]
    return {
        "X-CX-Delivery-Id": delivery_id,
        "X-CX-Timestamp": str(at),
        "X-CX-Signature": signature(secret, at, body),
    }


def test_forged_tampered_stale_and_replayed_requests_are_refused(receiver):
    destination = Destination({"url": receiver.url, "secret": SECRET})
    note = sample_note(delivery_id="d-genuine")
    assert WebhookChannel().deliver(note, destination, time.time()).status == "delivered"
    genuine = receiver.requests[-1]

    now = int(time.time())
    other = build_body(sample_note(delivery_id="d-forged"))
    tampered = genuine.body.replace(b'"level": "P1"', b'"level": "P4"')
    assert tampered != genuine.body
    attempts = [
        ("replayed request", genuine.body, genuine.headers),
        ("signature mismatch", other, signed(other, now, secret="a-guessed-secret-value")),
        ("signature mismatch", tampered, genuine.headers),  # the body changed under its signature
        ("signature mismatch", genuine.body, {**genuine.headers, "X-CX-Timestamp": str(now + 1)}),
        ("timestamp outside the replay window", other, signed(other, now - REPLAY_WINDOW - 2)),
        ("timestamp outside the replay window", other, signed(other, now + REPLAY_WINDOW + 2)),
        ("missing or malformed X-CX-Timestamp", other, {"X-CX-Delivery-Id": "d-forged"}),
        ("signature mismatch", other, {"X-CX-Delivery-Id": "d-forged", "X-CX-Timestamp": str(now)}),
        (
            "X-CX-Delivery-Id does not match the signed body",
            other,
            signed(other, now, delivery_id="d-someone-else"),
        ),
    ]
    for reason, body, headers in attempts:
        response = post(receiver, body, headers)
        assert (response.status_code, response.json()) == (401, {"error": reason}), reason
    assert receiver.rejected == [reason for reason, _, _ in attempts]
    assert len(receiver.accepted) == 1

    # our own retry of the delivery (signed afresh): acknowledged, not acted on again
    assert WebhookChannel().deliver(note, destination, time.time() + 1).status == "delivered"
    assert receiver.duplicates == 1 and len(receiver.accepted) == 1
    # a fresh, correctly signed delivery just inside the window is accepted
    fresh = build_body(sample_note(delivery_id="d-late"))
    assert post(receiver, fresh, signed(fresh, now - REPLAY_WINDOW + 5)).status_code == 200
    assert len(receiver.accepted) == 2


def test_the_generic_webhook_is_always_signed():
    with pytest.raises(NotConfigured):
        WebhookChannel().check(Destination({"url": "http://127.0.0.1:9/hook"}))
    with pytest.raises(BadRequest) as refused:
        load_directory({"people": [{"id": "li.na", "handles": {"webhook": {"url": "http://127.0.0.1:9/h"}}}]})
    assert "people.0.handles.webhook.secret: Missing data for required field." in refused.value.errors
