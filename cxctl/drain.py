"""Queue depths over time → rate of change, arrivals, drain and time to idle (pure, no I/O).

RabbitMQ's management API refreshes a queue's figures every 5 s
(``collect_statistics_interval``), so polling it every second returns the same
figures several times in a row. A repeated listing is not a new measurement: a
queue's history keeps one entry per change, stamped when first seen, and rates are
taken over the last ``window`` seconds of changes, so a plateau neither drops a rate
to 0 nor divides by a zero interval.

The change of depth, which the time to idle follows, is differenced from the depths:
they count everything that moves a queue (publishes, dead-lettered arrivals, acks,
expiries) and are the API's most timely figures; its own ``messages_details.rate``
trails them by a refresh when a queue starts or stops moving, so it only stands in
until a second depth has been seen (and for a single listing, as in ``cxctl stats``).
Arrivals (``publish``) and drain (``ack`` and no-ack deliveries) are the broker's
``message_stats`` rates, which miss dead-lettered arrivals and expiries; each is
averaged over the window, a value holding until the next change. Depths that stop
changing for longer than a refresh are evidence of a stall: the rate decays to 0.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

WINDOW = 10.0  # seconds of history behind a rate: two of the API's refreshes
REFRESH = 5.0  # the management API's statistics interval
STILL = 0.05  # messages/s that show as 0.0/s: a queue slower than this is not moving

Rate = float | None  # messages/s; None: not reported, or not known yet

# What a queue is doing, as the display names it.
IDLE, DRAINING, GROWING = "idle", "draining", "growing"
STEADY, STALLED, UNKNOWN = "steady", "stalled", "unknown"


@dataclass(frozen=True)
class QueueSample:
    """One queue as one listing of the management API shows it."""

    name: str
    ready: int
    unacked: int
    net_rate: Rate = None  # the broker's change of depth
    in_rate: Rate = None  # published into the queue
    out_rate: Rate = None  # acked or delivered without ack

    @property
    def depth(self) -> int:
        return self.ready + self.unacked

    @property
    def dead_letter(self) -> bool:
        """Dead-letter queues only fill; nothing waits for them to empty."""
        return self.name.endswith(".dlq")

    @classmethod
    def from_api(cls, row: dict) -> QueueSample:
        """From one entry of ``GET /api/queues/<vhost>``; a queue the broker has not
        reported on yet (just declared) has no figures and counts as empty."""
        stats = row.get("message_stats") or {}
        drained = [r for k in ("ack", "deliver_no_ack", "get_no_ack") if (r := _rate(stats, k)) is not None]
        return cls(
            name=row["name"],
            ready=int(row.get("messages_ready") or 0),
            unacked=int(row.get("messages_unacknowledged") or 0),
            net_rate=_rate(row, "messages"),
            in_rate=_rate(stats, "publish"),
            out_rate=sum(drained) if drained else _rate(stats, "deliver_get"),
        )


def _rate(figures: dict, key: str) -> Rate:
    details = figures.get(f"{key}_details")
    if isinstance(details, dict) and isinstance(details.get("rate"), int | float):
        return float(details["rate"])
    return None


@dataclass(frozen=True)
class Drain:
    """A queue's (or the total's) depth and movement; rates in messages/s."""

    name: str
    ready: int
    unacked: int
    net_rate: Rate  # change of depth: negative while it drains
    in_rate: Rate = None
    out_rate: Rate = None
    dead_letter: bool = False

    @property
    def depth(self) -> int:
        return self.ready + self.unacked

    @property
    def state(self) -> str:
        if self.depth == 0:
            return IDLE
        if self.net_rate is None:
            return UNKNOWN
        if self.net_rate <= -STILL:
            return DRAINING
        if self.net_rate >= STILL:
            return GROWING
        flowing = any(r is not None and r >= STILL for r in (self.in_rate, self.out_rate))
        return STEADY if flowing else STALLED

    @property
    def eta(self) -> float | None:
        """Seconds until empty at the current rate; None unless it is draining (or empty)."""
        if self.depth == 0:
            return 0.0
        if self.state != DRAINING:
            return None
        assert self.net_rate is not None
        return self.depth / -self.net_rate

    def as_json(self) -> dict:
        eta = self.eta
        return {
            "name": self.name,
            "ready": self.ready,
            "unacked": self.unacked,
            "depth": self.depth,
            "change_rate": _rounded(self.net_rate),
            "in_rate": _rounded(self.in_rate),
            "out_rate": _rounded(self.out_rate),
            "state": self.state,
            "eta_seconds": None if eta is None else round(eta, 1),
            "dead_letter": self.dead_letter,
        }


def _rounded(rate: Rate) -> Rate:
    return None if rate is None else round(rate, 2)


def _record(changes: deque, at: float, value, window: float) -> None:
    """Append ``value`` first seen at ``at`` unless it repeats the last one; keep one
    change at or before the window's start (what held then)."""
    if not changes or changes[-1][1] != value:
        changes.append((at, value))
    while len(changes) > 1 and changes[1][0] <= at - window:
        changes.popleft()


@dataclass
class _History:
    """One queue's listings, change by change, each stamped when first seen."""

    samples: deque[tuple[float, QueueSample]] = field(default_factory=deque)
    depths: deque[tuple[float, int]] = field(default_factory=deque)

    def add(self, at: float, sample: QueueSample, window: float) -> None:
        _record(self.samples, at, sample, window)
        _record(self.depths, at, sample.depth, window)

    def latest(self) -> QueueSample:
        return self.samples[-1][1]

    def averaged(self, now: float, window: float, rate: Callable[[QueueSample], Rate]) -> Rate:
        """The broker's figure averaged over the window, each value holding until the
        next change; the latest value alone while it is too new to weigh anything."""
        total = weight = 0.0
        samples = list(self.samples)
        for (at, sample), following in zip(samples, samples[1:] + [None], strict=True):
            value = rate(sample)
            held = (now if following is None else following[0]) - max(at, now - window)
            if value is not None and held > 0:
                total += value * held
                weight += held
        return total / weight if weight else rate(self.latest())

    def differenced(self, now: float, refresh: float) -> Rate:
        """Change of depth per second over the window; None while the only depth seen
        could still be a refresh away from its next change.

        A changed depth was reached at most a refresh before it was first seen, and
        the latest one stands for "now" until a refresh (and a half: polls lag it) should
        have replaced it; after that each second it stays unchanged is a second of no change.
        """
        (first_at, first), (last_at, last) = self.depths[0], self.depths[-1]
        start = first_at if len(self.depths) == 1 else max(first_at, self.depths[1][0] - refresh)
        end = max(last_at, now - 1.5 * refresh)
        return (last - first) / (end - start) if end > start else None


class DrainTracker:
    """Successive listings of a vhost's queues in; each queue's and the total's Drain out."""

    def __init__(self, window: float = WINDOW, refresh: float = REFRESH):
        self.window = window
        self.refresh = refresh
        self.now: float | None = None
        self._histories: dict[str, _History] = {}

    def add(self, at: float, samples: Iterable[QueueSample]) -> None:
        """Record one listing taken at ``at`` (monotonic seconds); queues missing from it are gone."""
        self.now = at
        seen = {}
        for sample in samples:
            history = self._histories.get(sample.name) or _History()
            history.add(at, sample, self.window)
            seen[sample.name] = history
        self._histories = seen

    def queues(self) -> list[Drain]:
        """Every queue, deepest first (then by name)."""
        drains = [self._drain(history) for history in self._histories.values()]
        return sorted(drains, key=lambda d: (-d.depth, d.name))

    def _drain(self, history: _History) -> Drain:
        assert self.now is not None
        now, sample = self.now, history.latest()

        def averaged(rate: Callable[[QueueSample], Rate]) -> Rate:
            return history.averaged(now, self.window, rate)

        net = history.differenced(now, self.refresh)
        if net is None:
            net = averaged(lambda s: s.net_rate)
        return Drain(
            name=sample.name,
            ready=sample.ready,
            unacked=sample.unacked,
            net_rate=net,
            in_rate=averaged(lambda s: s.in_rate),
            out_rate=averaged(lambda s: s.out_rate),
            dead_letter=sample.dead_letter,
        )


def total(drains: Iterable[Drain]) -> Drain:
    """The queues waited for, together: dead-letter queues are left out.

    Messages move from queue to queue (feedback → alert → case → notification), so the
    total's rate is the change of everything still to do, and its ETA is when the
    last of it is done if the pace holds. While a busy queue's rate is not known
    yet, neither is the total's.
    """
    busy = [d for d in drains if not d.dead_letter]

    def summed(rates: list[Rate]) -> Rate:
        known = [r for r in rates if r is not None]
        return sum(known) if known else None

    unknown = any(d.net_rate is None and d.depth for d in busy)
    net = None if unknown else sum(d.net_rate or 0.0 for d in busy)
    return Drain(
        name="total",
        ready=sum(d.ready for d in busy),
        unacked=sum(d.unacked for d in busy),
        net_rate=net,
        in_rate=summed([d.in_rate for d in busy]),
        out_rate=summed([d.out_rate for d in busy]),
    )
