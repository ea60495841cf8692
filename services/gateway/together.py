"""A page's independent RPC calls at once, each in its own green thread.

The gateway runs on eventlet: while one call waits for its reply another can be
sent, so a page that needs the case, the directory and the playbooks waits for
the slowest of them instead of their sum (bench/console_pages.py,
docs/benchmarks.md). Nothing else changes: the same calls, the same answers,
the same exceptions.
"""

from __future__ import annotations

from collections.abc import Callable

import eventlet


def together(*calls: Callable[[], object]) -> list:
    """Each call's result, in order; every call ends before this returns, then the
    first call's exception that failed (in order) is raised."""
    threads = [eventlet.spawn(call) for call in calls]
    results, failed = [], []
    for thread in threads:
        try:
            results.append(thread.wait())
        except Exception as exc:  # re-raised below, once every call has ended
            results.append(None)
            failed.append(exc)
    if failed:
        raise failed[0]
    return results
