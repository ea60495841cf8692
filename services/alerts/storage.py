"""What the alerts stores share (services/alerts/store.py and the stores of its
aggregates): ids digested from their parts, inserts keyed by ``_id`` that may have
happened already, and the expiry of running state."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def insert_once(collection: Collection, document: dict) -> bool:
    """Insert ``document``; False when its ``_id`` is stored already (a replay, or
    another writer first)."""
    try:
        collection.insert_one(document)
        return True
    except DuplicateKeyError:
        return False


def expiry(at: float, keep: int) -> datetime:
    # Counted from the later of event time and now, so a replay of old events
    # is not swept away before it is counted; a day of slack for late events.
    return datetime.fromtimestamp(max(at, time.time()), UTC) + timedelta(seconds=keep + 86400)
