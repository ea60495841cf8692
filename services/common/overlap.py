"""Independent calls overlapped: a batch's store writes, a page's RPC calls.

A batch's handler often has writes that do not depend on each other (a case batch's
audit entries, agent loads and escalation steps; an event batch's history beside its
evaluation), and a console page asks several services for things that do not depend on
each other (the case, the directory, the playbooks). Issued one after another, each
waits for the one before; here each runs in its own green thread (its own pooled
connection or RPC reply), and the caller waits for all of them: the slowest instead of
the sum. What a batch publishes still goes out only after every write returned, so
what docs/reliability.md promises holds: the batch is acked after its writes and its
announcements, and a write that fails fails the batch (redelivered, idempotent).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import eventlet


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Run ``calls`` at once and wait for every one; their results in order. When any
    raised, the first such exception (in the order given) is raised after all have
    finished, so no write is left running behind a failed batch."""
    if len(calls) <= 1:
        return [call() for call in calls]
    threads = [eventlet.spawn(call) for call in calls]
    results: list[Any] = []
    failure: BaseException | None = None
    for thread in threads:
        try:
            results.append(thread.wait())
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the others finish
            results.append(None)
            failure = failure or exc
    if failure is not None:
        raise failure
    return results
