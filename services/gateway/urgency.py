"""The queue's order: urgency (level) first, then the SLA time left.

A case's deadline is the earliest ``due`` of its running SLA clocks
(acknowledge, resolve); a paused clock (waiting for the customer) or a case
without an SLA has none and sorts after the cases that have one, within its
level. A case whose clock already stopped late, or whose deadline passed, is
``breached``.
"""

from __future__ import annotations

from datetime import datetime

LEVELS = {"P1": 0, "P2": 1, "P3": 2, "P4": 3}
# The cases service returns at most this many cases a call: the window the queue sorts.
WINDOW = 500


def _at(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def deadline(case: dict) -> datetime | None:
    clocks = ((case.get("sla") or {}).get("clocks") or {}).values()
    running = [_at(c.get("due")) for c in clocks if c.get("state") == "running"]
    dues = [d for d in running if d is not None]
    return min(dues) if dues else None


def missed(case: dict) -> bool:
    """A clock stopped late (met False): breached for good, whatever the countdown says."""
    clocks = ((case.get("sla") or {}).get("clocks") or {}).values()
    return any(c.get("state") == "stopped" and c.get("met") is False for c in clocks)


def by_urgency(cases: list[dict]) -> list[dict]:
    """Level, then the nearest deadline (none last), then the oldest."""

    def key(case):
        due = deadline(case)
        return (
            LEVELS.get(case.get("level"), len(LEVELS)),
            due is None,
            due.timestamp() if due else 0.0,
            str(case.get("opened_at") or ""),
        )

    return sorted(cases, key=key)


def next_clock(case: dict) -> str | None:
    """Which clock is due first (``acknowledge`` / ``resolve``), or ``paused`` when no clock
    runs but one waits for the customer, ``stopped`` when every clock stopped, None
    without an SLA."""
    clocks = (case.get("sla") or {}).get("clocks") or {}
    running = [(_at(c.get("due")), name) for name, c in clocks.items() if c.get("state") == "running"]
    dues = sorted((due, name) for due, name in running if due is not None)
    if dues:
        return dues[0][1]
    if any(c.get("state") == "paused" for c in clocks.values()):
        return "paused"
    return "stopped" if clocks else None


def annotate(case: dict) -> dict:
    """The case with ``deadline`` (ISO or None), ``missed`` and ``next_clock`` for the
    queue's countdowns."""
    due = deadline(case)
    return {
        **case,
        "deadline": due.isoformat() if due else None,
        "missed": missed(case),
        "next_clock": next_clock(case),
    }
