"""How events change a customer's experience profile: pure builders of updates.

Counts (feedback per channel, alerts per rule) are not incremented: they are
counted from the timeline and written with ``$max``. Counts only grow, and the
last writer counts after every earlier insert, so concurrent workers and
replays can neither lose nor double an increment, without any read-modify-write.
"""

from __future__ import annotations

import re
from datetime import datetime

IDENTITY_FIELDS = ("name", "phone", "email", "tier")
SCORE_KINDS = ("nps", "csat", "ces")
_UNSAFE_KEY = re.compile(r"[.$\x00]")


def safe_key(key: str) -> str:
    """A free-form key made safe as a MongoDB field name."""
    return _UNSAFE_KEY.sub("_", key)[:128] or "_"


def feedback_key(event: dict) -> str:
    return f"feedback:{event['source']}:{event['event_id']}"


def contact(event: dict) -> dict:
    """Where and when the customer was last (or first) in touch."""
    out = {
        "at": event["occurred_at"],
        "channel": event["channel"],
        "source": event["source"],
        "event_id": event["event_id"],
    }
    if "touchpoint" in event:
        out["touchpoint"] = event["touchpoint"]
    return out


def timeline_entry(event: dict) -> dict:
    entry = {
        "_id": feedback_key(event),
        "customer_id": event["customer"]["id"],
        "at": event["occurred_at"],
        "kind": "feedback",
        "source": event["source"],
        "event_id": event["event_id"],
        "channel": event["channel"],
    }
    for key in ("touchpoint", "scores", "text", "tags"):
        if key in event:
            entry[key] = event[key]
    return entry


def identity_set(event: dict) -> dict:
    """``$set`` of identity fields carried by the event (the latest event wins)."""
    customer = event["customer"]
    out: dict = {f"identity.{k}": customer[k] for k in IDENTITY_FIELDS if customer.get(k)}
    for key, value in (customer.get("attributes") or {}).items():
        out[f"identity.attributes.{safe_key(str(key))}"] = value
    if out:
        out["identity_from"] = {
            "at": event["occurred_at"],
            "source": event["source"],
            "event_id": event["event_id"],
        }
    return out


def latest_scores(event: dict) -> dict[str, dict]:
    """Per score kind, the subdocument that becomes ``latest.<kind>`` if newer."""
    at = event["occurred_at"]
    return {
        kind: {"value": value, "at": at, "event_id": event["event_id"]}
        for kind, value in (event.get("scores") or {}).items()
        if kind in SCORE_KINDS
    }


def if_newer(field: str, at: datetime, *, strictly: bool = False) -> dict:
    """Filter: ``field`` (a datetime) is unset or not newer than ``at``."""
    return {"$or": [{field: {"$lt" if strictly else "$lte": at}}, {field: {"$exists": False}}]}


def if_older(field: str, at: datetime) -> dict:
    """Filter: ``field`` is unset or later than ``at`` (for first-contact)."""
    return {"$or": [{field: {"$gt": at}}, {field: {"$exists": False}}]}
