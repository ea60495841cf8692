"""Pages of lists: ``{"items", "limit", "offset", "next"}`` with a ready-made next link."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlencode


def next_link(request, offset: int) -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "offset"]
    return f"{request.path}?{urlencode(args + [('offset', offset)])}"


def page(request, rows: list, limit: int, offset: int) -> dict:
    """``rows`` fetched with ``limit + 1`` from ``offset``: the extra row proves a next page."""
    more = len(rows) > limit
    return {
        "items": rows[:limit],
        "limit": limit,
        "offset": offset,
        "next": next_link(request, offset + limit) if more else None,
    }


def scan(
    fetch: Callable[[int, int], list],
    keep: Callable[[dict], bool],
    limit: int,
    offset: int,
    batch: int = 200,
    max_scan: int = 5000,
) -> tuple[list, int | None]:
    """Collect ``limit`` rows that ``keep`` accepts, reading ``fetch(skip, n)`` from ``offset``.

    For lists filtered here rather than by the backend (an agent's scope).
    Returns (rows, next offset or None); ``offset`` counts backend rows, so a
    page may hold fewer than ``limit`` rows when the scan budget ran out.
    """
    rows: list = []
    position = offset
    scanned = 0
    while scanned < max_scan:
        chunk: Iterable = fetch(position, batch)
        chunk = list(chunk)
        for i, row in enumerate(chunk):
            if keep(row):
                if len(rows) == limit:
                    return rows, position + i
                rows.append(row)
        position += len(chunk)
        scanned += len(chunk)
        if len(chunk) < batch:
            return rows, None
    return rows, position
