"""The retry stage: what an attempt's outcome means for its delivery.

Delivered is final and announced. A transient failure is tried again after
exponential backoff with full jitter (no sooner than a vendor's ``Retry-After``)
while attempts remain; anything else fails for good: counted, announced, and
fallen back (the record and fall-back stages act on the ``Settle`` returned here).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from services.notify.channels.base import Outcome
from services.notify.policy import Policy
from services.notify.stages.record import Settle


def backoff(attempt: int, policy: Policy, rng: Callable[[], float] = random.random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1)))."""
    ceiling = min(policy.backoff_cap, policy.backoff_base * (2 ** max(attempt - 1, 0)))
    return rng() * ceiling


class Retry:
    """Decides from ``policy`` (``max_attempts``, backoff) and a jitter source ``rng``."""

    def __init__(self, policy: Policy, rng: Callable[[], float] = random.random):
        self.policy = policy
        self.rng = rng

    def decide(
        self,
        doc: dict,
        attempt: int,
        outcome: Outcome,
        now: float,
        seconds: float = 0.0,
        destination: str | None = None,
    ) -> Settle:
        """What to record for attempt ``attempt`` of ``doc`` (made at ``now``, taking
        ``seconds``, to the masked ``destination``) and what follows once it is recorded."""
        entry = {
            "delivery_id": doc["_id"],
            "attempt": attempt,
            "channel": doc["channel"],
            "recipient": doc["recipient"],
            "destination": destination,
            "status": outcome.status,
            "error": outcome.error,
            "http_status": outcome.http_status,
            "retry_after": outcome.retry_after,
            "started_at": now,
            "seconds": round(seconds, 4),
        }
        base = {"attempts": attempt, "last_error": outcome.error}
        if outcome.status == "delivered":
            update = {**base, "status": "delivered", "message_id": outcome.detail}
            return Settle(doc, update, entry, announce=outcome, attempt=attempt)
        if outcome.status == "retry" and attempt < self.policy.max_attempts:
            delay = max(backoff(attempt, self.policy, self.rng), outcome.retry_after or 0.0)
            return Settle(doc, {**base, "status": "scheduled", "next_attempt_at": now + delay}, entry)
        error = (
            outcome.error
            if outcome.status == "failed"
            else f"gave up after {attempt} attempts: {outcome.error}"
        )
        return Settle(
            doc,
            {**base, "status": "failed", "last_error": error},
            entry,
            announce=Outcome.failed(error or "", outcome.http_status),
            attempt=attempt,
            counter="permanent_failures" if outcome.status == "failed" else "retries_exhausted",
        )
