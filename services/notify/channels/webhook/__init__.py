"""Generic webhook signed with HMAC-SHA256, for any receiver.

Each POST carries

* ``X-CX-Delivery-Id``: the idempotency key (the same on every retry);
* ``X-CX-Timestamp``: Unix seconds when this attempt was signed;
* ``X-CX-Signature``: ``v1=`` + hex(HMAC-SHA256(secret, timestamp + "." + body)).

A receiver recomputes the signature over the raw body, compares in constant
time, rejects timestamps more than ``REPLAY_WINDOW`` seconds from its clock,
and drops a delivery id it has already processed. ``verify`` does the first
three for Python receivers.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from marshmallow import fields, validate

from services.notify.channels import http
from services.notify.channels.base import Channel, Destination, HandleSchema, Note, Outcome, Rate
from services.notify.channels.common import webhook_url
from services.notify.channels.truncate import truncate, utf8_bytes

REPLAY_WINDOW = 300  # seconds
TEXT_LIMIT = 64 * 1024  # bytes; our own ceiling, receivers may rely on it
SCHEMA_VERSION = 1


class RateHandle(HandleSchema):
    """The receiver's own capacity, replacing our default for unknown receivers."""

    per_minute = fields.Float(required=True, validate=validate.Range(min=1, max=600_000))
    burst = fields.Integer(required=True, validate=validate.Range(min=1, max=10_000))


class Handle(HandleSchema):
    url = webhook_url()
    secret = fields.String(validate=validate.Length(min=16, max=256))
    rate = fields.Nested(RateHandle)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, headers: dict, body: bytes, now: float, window: int = REPLAY_WINDOW) -> str | None:
    """None when the request is authentic and fresh, else the reason it is not."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lower.get("x-cx-timestamp", ""))
    except ValueError:
        return "missing or malformed X-CX-Timestamp"
    if abs(now - timestamp) > window:
        return "timestamp outside the replay window"
    if not hmac.compare_digest(signature(secret, timestamp, body), lower.get("x-cx-signature", "")):
        return "signature mismatch"
    return None


def build_body(note: Note) -> bytes:
    payload = {
        "schema_version": SCHEMA_VERSION,
        "delivery_id": note.delivery_id,
        "kind": note.kind,
        "level": note.level,
        "language": note.language,
        "title": note.title,
        "text": truncate(note.text, TEXT_LIMIT, utf8_bytes),
        "url": note.url,
        "case_id": note.case_id,
        "context": note.facts,
    }
    return json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")


def interpret(response: http.Response) -> Outcome:
    generic = http.status_outcome(response)
    return generic if generic is not None else Outcome.ok(http_status=response.status)


class WebhookChannel(Channel):
    name = "webhook"
    Handle = Handle
    template_format = "text"
    destination_field = "url"
    rate = Rate(per_minute=600, burst=20, source="our default for receivers we do not know")

    def rate_for(self, destination: Destination) -> Rate | None:
        own = destination.handle.get("rate")
        if own:
            return Rate(own["per_minute"], own["burst"], source="the recipient's webhook handle")
        return self.rate

    def preview(self, note: Note, destination: Destination) -> dict:
        return json.loads(build_body(note))

    def deliver(self, note: Note, destination: Destination, now: float) -> Outcome:
        body = build_body(note)
        timestamp = int(now)
        headers = {"X-CX-Delivery-Id": note.delivery_id, "X-CX-Timestamp": str(timestamp)}
        secret = destination.handle.get("secret")
        if secret:
            headers["X-CX-Signature"] = signature(secret, timestamp, body)
        return http.post(
            destination.handle["url"], body, headers, interpret, self.settings.get("timeout", 10)
        )


CHANNEL = WebhookChannel
