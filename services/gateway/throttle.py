"""The gateway's throttles: per-client request rates, and login attempts (429 with Retry-After).

A client is the signed-in user (API token or console session) or, before
authentication succeeds, the remote IP address. Each has a token bucket:
``GATEWAY_RATE_BURST`` requests at once, refilled at ``GATEWAY_RATE_PER_MINUTE``;
a request finding the bucket empty is answered 429 with ``Retry-After`` (whole
seconds until a token is back) and does no work. ``GATEWAY_RATE_PER_MINUTE``
0 turns the limit off.

The buckets live in the gateway's memory: each replica counts on its own, so
N replicas admit up to N times the rate in total, and a restart forgets the
counts. That bounds floods from one client cheaply on every request; the
login throttle, which must survive restarts and span replicas, is kept in
MongoDB instead (``LoginThrottle`` below).

Login attempts are throttled per (user name, client) and per client, never per
account alone (OWASP's authentication guidance): someone guessing a password
slows down their own client, and the real user on another client logs in as
usual. On each key the first ``LOGIN_FREE_ATTEMPTS`` (per client:
``LOGIN_FREE_ATTEMPTS_PER_CLIENT``) attempts go at once; each further attempt
must come ``LOGIN_DELAY_SECONDS`` after the one before, doubled with every
attempt, at most ``LOGIN_MAX_DELAY_SECONDS``. An attempt made too early is
answered 429 without looking at the password, and counts: the Retry-After it
gets is the wait after it. A successful login clears its (user, client) count
and takes its attempt back from the client's; a count is forgotten
``LOGIN_FORGET_SECONDS`` after its last attempt. Each attempt is counted by one
atomic update that returns the count before it (store.count_login_attempt), so
attempts made at the same moment each see the others' and none slips through
on a stale read.
"""

from __future__ import annotations

import math
import time
from datetime import datetime

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


def login_delay(attempts: int, free: int, first: float, cap: float) -> float:
    """Seconds that must pass after the last of ``attempts`` counted login attempts."""
    if attempts < free:
        return 0.0
    return min(cap, first * 2.0 ** min(attempts - free, 64))


class LoginThrottle:
    """Growing delays between login attempts per (user name, client) and per client."""

    def __init__(self, store, user_name: str, client: str):
        self.store = store
        self.pair = f"pair:{client}|{user_name}"  # the client first: it holds no "|"
        self.client = f"client:{client}"

    def admit(self, now: datetime) -> int:
        """Count this attempt; 0 when it may go on, else the whole seconds to wait (Retry-After)."""
        first = float(settings.get("LOGIN_DELAY_SECONDS"))
        cap = float(settings.get("LOGIN_MAX_DELAY_SECONDS"))
        forget = float(settings.get("LOGIN_FORGET_SECONDS"))
        at = now.timestamp()
        for key, free in (
            (self.pair, int(settings.get("LOGIN_FREE_ATTEMPTS"))),
            (self.client, int(settings.get("LOGIN_FREE_ATTEMPTS_PER_CLIENT"))),
        ):
            attempts, last = self.store.count_login_attempt(key, at, forget)
            delay = login_delay(attempts, free, first, cap)
            # (delay 0: go, even if an attempt made at the same moment stored a later time)
            if delay and last is not None and at < last + delay:
                return max(1, math.ceil(login_delay(attempts + 1, free, first, cap)))
        return 0

    def succeeded(self) -> None:
        self.store.forget_login_attempts(self.pair)
        self.store.uncount_login_attempt(self.client)
