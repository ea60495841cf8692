"""Nameko dependency providers of the profiles service."""

from __future__ import annotations

from services.common.mongo import MongoStore
from services.profiles.store import ProfileStore


class ProfileStores(MongoStore):
    """Injects the ``ProfileStore`` (one MongoDB client per container, indexes ensured at
    start): its parts ``recorder``, ``identity``, ``privacy`` and ``queries`` carry the
    domain verbs, and its ``feedback_inbox`` the once-only claims of feedback events."""

    def __init__(self) -> None:
        super().__init__(ProfileStore)
