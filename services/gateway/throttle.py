"""Per-client request rate limits of the gateway (429 with Retry-After).

A client is the signed-in user (API token or console session) or, before
authentication succeeds, the remote IP address. Each has a token bucket:
``GATEWAY_RATE_BURST`` requests at once, refilled at ``GATEWAY_RATE_PER_MINUTE``;
a request finding the bucket empty is answered 429 with ``Retry-After`` (whole
seconds until a token is back) and does no work. ``GATEWAY_RATE_PER_MINUTE``
0 turns the limit off.

The buckets live in the gateway's memory: each replica counts on its own, so
N replicas admit up to N times the rate in total, and a restart forgets the
counts. That bounds floods from one client cheaply on every request; the
login limit, which must survive restarts and span replicas, is kept in
MongoDB instead (store.count_attempt).
"""

from __future__ import annotations

import math
import time

from nameko.extensions import SharedExtension

from services.common import settings

MAX_CLIENTS = 50_000  # buckets kept; full (idle) ones are dropped beyond this


class TokenBuckets:
    """One token bucket per key. ``take`` returns 0 when a token was taken, else the
    seconds until one is available (nothing taken)."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, per_minute: float, burst: int) -> float:
        if per_minute <= 0:
            return 0.0
        rate = per_minute / 60.0
        now = self.clock()
        tokens, at = self.buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            if len(self.buckets) > MAX_CLIENTS:
                self._forget_idle(now, rate, burst)
            return 0.0
        self.buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate

    def _forget_idle(self, now: float, rate: float, burst: int) -> None:
        for key, (tokens, at) in list(self.buckets.items()):
            if tokens + (now - at) * rate >= burst:
                del self.buckets[key]


class ClientLimits(SharedExtension):
    """The gateway container's buckets, shared by every route entrypoint."""

    def setup(self) -> None:
        self.buckets = TokenBuckets()

    def wait(self, client: str) -> int:
        """0 when ``client`` may go on, else the whole seconds to wait (Retry-After)."""
        seconds = self.buckets.take(
            client, float(settings.get("GATEWAY_RATE_PER_MINUTE")), int(settings.get("GATEWAY_RATE_BURST"))
        )
        return math.ceil(seconds) if seconds > 0 else 0
