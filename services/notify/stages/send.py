"""The send stage: one attempt through the channel.

A channel classifies its own answer (delivered, retry, failed); one that raises is a
bug, taken as a transient failure (bounded by ``max_attempts``, then the fallback).
Vendors echo URLs and tokens in their answers and requests' errors quote the URL, so
the destination's secrets are redacted from what is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from services.common.privacy import redact
from services.notify.channels.base import Channel, Destination, Note, Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ready:
    """A leased delivery cleared to go: its attempt number, where and how it goes, and
    the secrets its errors must not show."""

    doc: dict
    attempt: int
    channel: Channel
    recipient: dict
    destination: Destination
    secrets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sent:
    """What the attempt came to (secrets redacted), how long it took, and where it went
    (masked, for the attempt log)."""

    outcome: Outcome
    seconds: float
    destination: str


class Sender:
    """Sends a rendered note to a ready delivery's destination."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock

    def send(self, ready: Ready, note: Note, now: float) -> Sent:
        started = self.clock()
        try:
            outcome = ready.channel.deliver(note, ready.destination, now)
        except Exception as exc:
            log.exception("channel %s raised on %s", ready.channel.name, ready.doc["_id"])
            outcome = Outcome.retry(f"internal error: {type(exc).__name__}: {exc}")
        outcome = replace(
            outcome,
            error=outcome.error and redact(outcome.error, ready.secrets),
            detail=outcome.detail and redact(outcome.detail, ready.secrets),
        )
        where = mask(ready.channel.destination_key(ready.destination))
        return Sent(outcome, self.clock() - started, where)


def mask(value: str) -> str:
    """A destination for the log without its secret parts: an address's domain, a
    webhook URL's scheme and host (Slack, Feishu and Teams put the token in the path)."""
    if "@" in value and "/" not in value:
        name, _, domain = value.partition("@")
        return f"{name[:2]}***@{domain}"
    try:
        parts = urlsplit(value)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "…"
    if parts.scheme and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}{port}/…"
    return value[:8] + "…"
