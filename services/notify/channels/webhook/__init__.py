"""Generic webhook signed with HMAC-SHA256, for any receiver.

Each POST carries

* ``X-CX-Delivery-Id``: the idempotency key (the same on every retry; also the
  body's ``delivery_id``, which the signature covers);
* ``X-CX-Timestamp``: Unix seconds when this attempt was signed;
* ``X-CX-Signature``: ``v1=`` + hex(HMAC-SHA256(secret, timestamp + "." + body)).

The handle's ``secret`` (16 to 256 characters, shared with the receiver) is
required: an unsigned webhook could be forged by anyone who learns its URL.

A receiver must (docs/security.md, "Webhook signatures"):

1. recompute the signature over the raw body bytes and compare in constant time;
2. reject a timestamp more than ``REPLAY_WINDOW`` (300) seconds from its clock;
3. reject the exact same signed request seen again within that window (a
   replay), and treat a known ``delivery_id`` with a fresh signature as our
   retry: answer 2xx and do nothing again.

Python receivers use ``WebhookVerifier`` for all three::

    verifier = WebhookVerifier(SECRET)                   # one per process
    verdict = verifier.check(request.headers, request.get_data(), time.time())
    if verdict.rejected:
        return 401, verdict.reason
    if not verdict.duplicate:
        handle(json.loads(body))
    return 200

``verify`` does steps 1 and 2 alone, statelessly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from dataclasses import dataclass

from marshmallow import fields, validate

from services.notify.channels import http
from services.notify.channels.base import (
    Channel,
    Destination,
    HandleSchema,
    NotConfigured,
    Note,
    Outcome,
    Rate,
)
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
    secret = fields.String(required=True, validate=validate.Length(min=16, max=256))
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


@dataclass(frozen=True)
class Verdict:
    """What a receiver does with one request: reject it (``reason``), acknowledge a
    duplicate without acting again, or act on it."""

    reason: str | None = None
    duplicate: bool = False
    delivery_id: str | None = None

    @property
    def rejected(self) -> bool:
        return self.reason is not None


class WebhookVerifier:
    """Receiver-side checks: signature, timestamp window, replays and duplicates.

    Remembers, in memory, each signature for ``window`` seconds (a replay of the
    same signed request is rejected; older ones fail the timestamp check) and
    each delivery id for ``remember`` seconds (our retries of one delivery are
    duplicates: acknowledge them, act once). A receiver with several processes
    keeps delivery ids in its own store instead, keyed by ``verdict.delivery_id``.
    """

    def __init__(self, secret: str, window: int = REPLAY_WINDOW, remember: float = 86400.0):
        self.secret = secret
        self.window = window
        self.remember = remember
        self.signatures: dict[str, float] = {}
        self.deliveries: dict[str, float] = {}
        self.lock = threading.Lock()

    def check(self, headers: dict, body: bytes, now: float) -> Verdict:
        problem = verify(self.secret, headers, body, now, self.window)
        if problem:
            return Verdict(problem)
        lower = {k.lower(): v for k, v in headers.items()}
        try:
            signed_id = json.loads(body.decode("utf-8")).get("delivery_id")
        except (ValueError, UnicodeDecodeError, AttributeError):
            return Verdict("the signed body is not a delivery")
        if not signed_id or lower.get("x-cx-delivery-id") != signed_id:
            return Verdict("X-CX-Delivery-Id does not match the signed body")
        with self.lock:
            self._forget(now)
            if lower["x-cx-signature"] in self.signatures:
                return Verdict("replayed request", delivery_id=signed_id)
            self.signatures[lower["x-cx-signature"]] = now
            duplicate = signed_id in self.deliveries
            self.deliveries[signed_id] = now
        return Verdict(duplicate=duplicate, delivery_id=signed_id)

    def _forget(self, now: float) -> None:
        for seen, keep in ((self.signatures, self.window * 2), (self.deliveries, self.remember)):
            for key in [k for k, at in seen.items() if now - at > keep]:
                del seen[key]


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

    def check(self, destination: Destination) -> None:
        super().check(destination)
        if not destination.handle.get("secret"):
            raise NotConfigured("no webhook secret: the generic webhook is always signed")

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
        headers = {
            "X-CX-Delivery-Id": note.delivery_id,
            "X-CX-Timestamp": str(timestamp),
            "X-CX-Signature": signature(destination.handle["secret"], timestamp, body),
        }
        return http.post(
            destination.handle["url"], body, headers, interpret, self.settings.get("timeout", 10)
        )


CHANNEL = WebhookChannel
