"""Anonymising an erased customer in a service's own collections (``customer_erased``).

Each service lists where it keeps a customer's personal data; these helpers do the
removal the same way everywhere: fields are ``$unset`` (ids, counts, levels and
times stay), the document gets a ``customer_erased_at`` date (``$currentDate``, not a
bare boolean: docs/store.md), and a second run changes nothing because it only
touches documents not yet marked. Names found before removal are redacted from free
text (comments) with ``redact``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ERASED = "[erased 已删除]"
MARK = "customer_erased_at"


def anonymise(collection, query: dict, unset: Iterable[str]) -> int:
    """Unset ``unset`` in every not yet anonymised document matching ``query``."""
    return collection.update_many(
        {**query, MARK: {"$exists": False}},
        {"$unset": {field: "" for field in unset}, "$currentDate": {MARK: True}},
    ).modified_count


def redact(text: str, names: Iterable[str]) -> str:
    """``text`` with every occurrence of the (non-empty) ``names`` replaced by ERASED."""
    for name in sorted({n for n in names if n and n.strip()}, key=len, reverse=True):
        text = text.replace(name, ERASED)
    return text


def scrub_dead_letters(db, customer_ids: Iterable[str]) -> int:
    """Dead-lettered message previews that quote one of ``customer_ids`` (as a JSON string)."""
    scrubbed = 0
    for customer_id in customer_ids:
        quoted = re.escape(f'"{customer_id}"')
        scrubbed += db.dead_letters.update_many(
            {"preview": {"$regex": quoted}}, {"$set": {"preview": ERASED}}
        ).modified_count
    return scrubbed
