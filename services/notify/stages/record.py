"""The record stage: a batch's settles go to the store together, in one ``bulk_write``
conditional on each lease (``NotifyStore.settle_many``); then the ones that applied
are announced (``notification_delivered``) and counted, one update per counter.

A settle waits at most a quarter lease for company: in a long batch (slow vendors)
the sends done so far are recorded before their leases could run out and the sweep
send them again. It also waits for at most ``every`` sends that reached a vendor (the
batch's send concurrency): a ``kill -9`` between a vendor accepting a message and the
store recording it resends that message when its lease runs out (same Message-ID /
``X-CX-Delivery-Id``), so a dying worker resends at most about that many, not its whole
batch (docs/reliability.md). A store outage while recording is waited out (up to half the
lease) rather than given up: a message the vendor accepted and we failed to record
is sent again when its lease expires.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from pymongo.errors import ConnectionFailure

from services.notify.channels.base import Outcome

log = logging.getLogger(__name__)

STORE_RETRY_SECONDS = 0.5  # between attempts to record a sent message while the store is away


class Settles(Protocol):
    def settle_many(self, items: list[tuple[dict, dict, dict | None]]) -> list[bool]: ...

    def count(self, name: str, n: int = 1) -> None: ...


@dataclass
class Settle:
    """One update of a leased delivery, applied only while the lease holds, and what
    follows when it applied: an announcement, and for a delivery that failed for good
    a counter and its fallback."""

    doc: dict
    update: dict
    entry: dict | None = None  # the attempt log entry (none when our own rate limit deferred it)
    announce: Outcome | None = None
    attempt: int = 0
    counter: str | None = None
    queued: float = field(default_factory=time.monotonic)


class Record:
    """The record stage of one batch (``add`` its settles; ``flush`` records them)."""

    def __init__(
        self,
        store: Settles,
        lease: float,
        announce: Callable[[dict, Outcome, int], None],
        every: int | None = None,
    ):
        self.store = store
        self.lease = lease
        self.announce = announce
        self.every = every  # sends that reached a vendor recorded together at most (None: no cap)
        self.pending: list[Settle] = []

    def add(self, settle: Settle) -> None:
        self.pending.append(settle)

    def flush_if_due(self) -> list[dict]:
        """``flush`` when the oldest pending settle has waited a quarter lease, or when
        ``every`` pending settles record a send (an attempt log entry), else nothing."""
        if not self.pending:
            return []
        waited = time.monotonic() - self.pending[0].queued >= self.lease / 4
        sent = sum(1 for settle in self.pending if settle.entry is not None)
        if waited or (self.every is not None and sent >= self.every):
            return self.flush()
        return []

    def flush(self) -> list[dict]:
        """Record the pending settles; the deliveries among them that failed for good
        (for the fall-back stage). One that did not apply is not reported: another worker
        took it over when our lease ran out, and reports it."""
        settles, self.pending = self.pending, []
        if not settles:
            return []
        counts: Counter[str] = Counter()
        failed = []
        for settle, held in zip(settles, self._settle(settles), strict=True):
            if not held:
                continue
            if settle.announce is not None:
                self.announce(settle.doc, settle.announce, settle.attempt)
            if settle.counter is not None:
                counts[settle.counter] += 1
                failed.append(settle.doc)
        for name, n in counts.items():
            self.store.count(name, n)
        return failed

    def _settle(self, settles: list[Settle]) -> list[bool]:
        items = [(s.doc, s.update, s.entry) for s in settles]
        deadline = time.monotonic() + self.lease / 2
        while True:
            try:
                return self.store.settle_many(items)
            except ConnectionFailure as exc:
                if time.monotonic() >= deadline:
                    raise
                log.warning("store unavailable while recording %d deliveries (%s); retrying", len(items), exc)
                time.sleep(STORE_RETRY_SECONDS)


def announcement(doc: dict, outcome: Outcome, attempts: int) -> dict:
    """The ``notification_delivered`` payload announcing how a delivery ended."""
    return {
        "notification_id": doc["notification_id"],
        "channel": doc["channel"],
        "recipient": doc["recipient"],
        "status": outcome.status,
        "attempts": attempts,
        "finished_at": datetime.now(UTC),
        "message_id": (outcome.detail or "")[:300] or None,
        "error": (outcome.error or "")[:2000] or None,
    }
