"""How events change a customer's experience profile: pure builders of updates.

Counts (feedback per channel, alerts per rule) are not incremented: they are
counted from the timeline and written with ``$max``. Counts only grow, and the
last writer counts after every earlier insert, so concurrent workers and
replays can neither lose nor double an increment, without any read-modify-write.
"""

from __future__ import annotations

import re
from datetime import datetime

from services.common.mongo import all_of
from services.profiles.insight import comment_insight
from services.profiles.scores import SCORE_KINDS

IDENTITY_FIELDS = ("name", "phone", "email", "tier")
PII_FIELDS = ("name", "phone", "email", "attributes")
CLOSED_CASE_STATUSES = ("resolved", "closed")
_UNSAFE_KEY = re.compile(r"[.$\x00]")
_PHONE_NOISE = re.compile(r"[\s\-().\u00a0/]")
_CN_MOBILE = re.compile(r"1\d{10}")


def safe_key(key: str) -> str:
    """A free-form key made safe as a MongoDB field name."""
    return _UNSAFE_KEY.sub("_", key)[:128] or "_"


def normalise_phone(phone: str) -> str:
    """Digits only, China's country code dropped: "+86 138-0013-8000" → "13800138000"."""
    digits = _PHONE_NOISE.sub("", phone.strip())
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            return digits[len(prefix) :]
    # "8613800138000": a country code written without "+" (only before a mobile number)
    if digits.startswith("86") and _CN_MOBILE.fullmatch(digits[2:]):
        return digits[2:]
    return digits.lstrip("+")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_name(name: str) -> str:
    return " ".join(name.split()).lower()


def search_keys(identity: dict) -> dict:
    """The normalised copies of identity fields that search matches on."""
    out = {}
    if identity.get("phone"):
        out["phone"] = normalise_phone(identity["phone"])
    if identity.get("email"):
        out["email"] = normalise_email(identity["email"])
    if identity.get("name"):
        out["name"] = normalise_name(identity["name"])
    return out


def is_survey(event: dict) -> bool:
    """The integration says this feedback answered a survey (a survey contact)."""
    attributes = event.get("attributes") or {}
    return bool(attributes.get("survey_id")) or "survey" in (event.get("tags") or [])


def without_pii(event: dict) -> dict:
    """The event as stored for an erased customer: no identity, no free text."""
    customer = {k: v for k, v in event["customer"].items() if k not in PII_FIELDS}
    out = {k: v for k, v in event.items() if k not in ("text", "tags", "attributes")}
    out["customer"] = customer
    out["pii_dropped"] = True
    return out


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


def timeline_entry(event: dict, customer_id: str) -> dict:
    """The feedback's timeline entry, filed under the (alias-resolved) customer."""
    entry = {
        "_id": feedback_key(event),
        "customer_id": customer_id,
        "at": event["occurred_at"],
        "kind": "feedback",
        "source": event["source"],
        "event_id": event["event_id"],
        "channel": event["channel"],
    }
    if customer_id != event["customer"]["id"]:
        entry["as_customer_id"] = event["customer"]["id"]
    for key in ("touchpoint", "scores", "text", "tags"):
        if key in event:
            entry[key] = event[key]
    if is_survey(event):
        entry["survey"] = True
    if event.get("pii_dropped"):
        entry["pii_dropped"] = True
    insight = comment_insight(event.get("text"))
    if insight is not None:
        entry["insight"] = insight
    return entry


def identity_set(event: dict) -> dict:
    """``$set`` of identity fields carried by the event (the latest event wins)."""
    customer = event["customer"]
    out: dict = {f"identity.{k}": customer[k] for k in IDENTITY_FIELDS if customer.get(k)}
    for key, value in (customer.get("attributes") or {}).items():
        out[f"identity.attributes.{safe_key(str(key))}"] = value
    for key, value in search_keys(customer).items():
        out[f"search.{key}"] = value
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


def case_state(case_id: str, status: str, at: datetime, level: str) -> dict:
    return {"case_id": case_id, "status": status, "at": at, "level": level}


def open_case_entry(case_id: str, status: str, level: str, title: str | None, opened_at) -> dict:
    return {"case_id": case_id, "status": status, "level": level, "title": title, "opened_at": opened_at}


def only(customer_id: str, guard: dict) -> dict:
    """Filter: this one profile, if ``guard`` holds (kept apart by ``all_of``)."""
    return all_of({"_id": customer_id}, guard)


def if_newer(field: str, at: datetime, *, strictly: bool = False) -> dict:
    """Filter: ``field`` (a datetime) is unset or not newer than ``at``."""
    return {"$or": [{field: {"$lt" if strictly else "$lte": at}}, {field: {"$exists": False}}]}


def if_older(field: str, at: datetime) -> dict:
    """Filter: ``field`` is unset or later than ``at`` (for first-contact)."""
    return {"$or": [{field: {"$gt": at}}, {field: {"$exists": False}}]}
