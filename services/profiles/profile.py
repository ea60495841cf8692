"""How events change a customer's experience profile: pure code over the profile document.

The store reads a profile by ``_id``, applies one of the ``apply_*`` functions
below to a copy, and writes the copy back on the condition that the profile's
revision (``rev``) is still the one it read (docs/profiles.md "Writes"). So every
rule here is plain Python:

* counts (feedback, per channel, per aspect, alerts, per rule) are running counters, moved by
  one per event; the event's marker in ``applied`` makes the move happen once,
  whatever replays, resends or retries after a crash bring (``count_once``);
* "latest wins" fields (identity, contacts, latest scores, case states) are set
  only when the event is not older than what is stored (``newer``).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from services.common.mongo import all_of
from services.profiles.insight import comment_aspects, comment_insight
from services.profiles.scores import SCORE_KINDS

IDENTITY_FIELDS = ("name", "phone", "email", "tier")
PII_FIELDS = ("name", "phone", "email", "attributes")
CLOSED_CASE_STATUSES = ("resolved", "closed", "verified")
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
        # its UTC hour (epoch seconds): the dashboard reads a window's partial hours by it
        "hour": int(event["occurred_at"].timestamp()) // 3600 * 3600,
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


# -- the profile document -------------------------------------------------------------

# Bookkeeping kept in the document that no answer shows.
INTERNAL_FIELDS = ("rev", "applied", "case_info", "case_info_complete", "written_by")


# Running counters keyed by channel, aspect code or alert rule: a merge adds them up.
COUNTER_MAPS = ("channels", "aspect_counts", "alert_counts")


def new_profile(customer_id: str, now: datetime) -> dict:
    return {
        "_id": customer_id,
        "created_at": now,
        "feedback_count": 0,
        "alerts_total": 0,
        "rev": 0,
        "applied": {},
        # every case opened on this profile is in ``case_info`` (profiles written before
        # it was kept lack the flag: their cases' facts are read from the timeline)
        "case_info_complete": True,
    }


def marker(key: str) -> str:
    """The field name standing for an event key in ``applied``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def count_once(doc: dict, key: str, now: datetime) -> bool:
    """Mark ``key`` as counted in ``doc``; False when it already was."""
    applied = doc.setdefault("applied", {})
    mark = marker(key)
    if mark in applied:
        return False
    applied[mark] = now.timestamp()
    return True


def prune_markers(doc: dict, now: datetime, keep_seconds: float) -> None:
    """Forget markers older than ``keep_seconds``: a copy of an event is no longer
    expected that late (the inbox settles every redelivery long before)."""
    oldest = now.timestamp() - keep_seconds
    doc["applied"] = {k: at for k, at in (doc.get("applied") or {}).items() if at >= oldest}


def get_path(doc: dict, path: str):
    node = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def set_path(doc: dict, path: str, value) -> bool:
    """Set a dotted path (creating subdocuments); True when something changed."""
    *parents, leaf = path.split(".")
    node = doc
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    if leaf in node and node[leaf] == value:
        return False
    node[leaf] = value
    return True


def newer(current, at: datetime, *, strictly: bool = False) -> bool:
    """The guard of a "latest wins" field: unset, or not newer than ``at``."""
    if not isinstance(current, datetime):
        return True
    return current < at if strictly else current <= at


def older(current, at: datetime) -> bool:
    """The guard of first contact: unset, or later than ``at``."""
    return not isinstance(current, datetime) or current > at


def bump(counters: dict, key: str, by: int = 1) -> None:
    counters[key] = counters.get(key, 0) + by


def apply_feedback(doc: dict, event: dict, now: datetime) -> bool:
    """Count the feedback once (per channel, per aspect of its comment); move contacts,
    identity and latest scores if newer."""
    at = event["occurred_at"]
    changed = False
    if count_once(doc, feedback_key(event), now):
        doc["feedback_count"] = doc.get("feedback_count", 0) + 1
        bump(doc.setdefault("channels", {}), safe_key(event["channel"]))
        for aspect in comment_aspects(event.get("text")):  # what the comment is about
            bump(doc.setdefault("aspect_counts", {}), aspect)
        changed = True
    changed |= apply_contacts(doc, contact(event))
    identity = identity_set(event)
    if identity and newer(get_path(doc, "identity_from.at"), at):
        for path, value in identity.items():
            changed |= set_path(doc, path, value)
    for kind, latest in latest_scores(event).items():
        if newer(get_path(doc, f"latest.{kind}.at"), at):
            changed |= set_path(doc, f"latest.{kind}", latest)
    return changed


def apply_contacts(doc: dict, last: dict, first: dict | None = None) -> bool:
    """Last contact overall and per channel, first contact: each by event time."""
    first = first or last
    changed = False
    if newer(get_path(doc, "last_contact.at"), last["at"]):
        changed |= set_path(doc, "last_contact", last)
    channel = safe_key(last["channel"])
    if newer(get_path(doc, f"channel_last.{channel}.at"), last["at"]):
        changed |= set_path(doc, f"channel_last.{channel}", last)
    if older(get_path(doc, "first_contact.at"), first["at"]):
        changed |= set_path(doc, "first_contact", first)
    return changed


def apply_alert(doc: dict, alert: dict, now: datetime) -> bool:
    """Count the alert once, in total and for its rule."""
    if not count_once(doc, f"alert:{alert['alert_id']}", now):
        return False
    doc["alerts_total"] = doc.get("alerts_total", 0) + 1
    bump(doc.setdefault("alert_counts", {}), safe_key(alert["rule"]["id"]))
    return True


def apply_case_state(doc: dict, state: dict, open_entry: dict | None, *, strictly: bool = False) -> bool:
    """Newest status wins, per case: it sets the case's state and (un)lists the case."""
    key = safe_key(state["case_id"])
    if not newer(get_path(doc, f"case_state.{key}.at"), state["at"], strictly=strictly):
        return False
    changed = set_path(doc, f"case_state.{key}", state)
    open_cases = doc.setdefault("open_cases", {})
    if open_entry is None:
        changed |= open_cases.pop(key, None) is not None
    else:
        changed |= set_path(doc, f"open_cases.{key}", open_entry)
    return changed


def apply_case_opened(doc: dict, state: dict, open_entry: dict) -> bool:
    """Remember the case's title and opening (immutable), then apply its first state.

    The opening is a case's earliest state: it never replaces a status change stamped
    with the same instant (cases stamps the first assignment so). A status change
    that arrived first listed the case without them: they are filled in.
    """
    key = safe_key(state["case_id"])
    info = {"title": open_entry["title"], "opened_at": open_entry["opened_at"]}
    changed = set_path(doc, f"case_info.{key}", info)
    changed |= apply_case_state(doc, state, open_entry, strictly=True)
    listed = (doc.get("open_cases") or {}).get(key)
    if listed is not None and listed.get("title") is None:
        changed |= set_path(doc, f"open_cases.{key}", {**listed, **info})
    return changed


def case_facts(doc: dict, case_id: str) -> dict | None:
    """The title and opening time a profile knows for a case; None when the profile
    cannot tell (written before ``case_info`` was kept: ask the timeline)."""
    key = safe_key(case_id)
    info = (doc.get("case_info") or {}).get(key) or (doc.get("open_cases") or {}).get(key)
    if info is not None and info.get("title") is not None:
        return {"title": info["title"], "opened_at": info["opened_at"]}
    if doc.get("case_info_complete"):
        return {"title": None, "opened_at": None}  # not opened yet: its opening fills them in
    return None


def carry_profile(doc: dict, old: dict, now: datetime) -> bool:
    """Apply a merged profile ``old`` to the survivor ``doc``, once: counters add up,
    markers join, timestamped fields follow the same rules events use, and fields
    ``doc`` lacks are filled in even when its identity is newer."""
    if not count_once(doc, f"merge:{old['_id']}", now):
        return False
    for field in ("feedback_count", "alerts_total"):
        doc[field] = doc.get(field, 0) + old.get(field, 0)
    for field in COUNTER_MAPS:
        for key, n in (old.get(field) or {}).items():
            bump(doc.setdefault(field, {}), key, n)
    applied = doc.setdefault("applied", {})
    for mark, at in (old.get("applied") or {}).items():
        applied[mark] = max(at, applied.get(mark, at))
    identity_from = old.get("identity_from")
    identity = old.get("identity") or {}
    flat = {f"identity.{k}": identity[k] for k in IDENTITY_FIELDS if identity.get(k)}
    flat.update({f"identity.attributes.{k}": v for k, v in (identity.get("attributes") or {}).items()})
    flat.update({f"search.{k}": v for k, v in (old.get("search") or {}).items()})
    if identity_from and flat and newer(get_path(doc, "identity_from.at"), identity_from["at"]):
        for path, value in {**flat, "identity_from": identity_from}.items():
            set_path(doc, path, value)
    for path, value in flat.items():
        if get_path(doc, path) is None:
            set_path(doc, path, value)
    if old.get("last_contact"):
        apply_contacts(doc, old["last_contact"], old.get("first_contact"))
    for channel_last in (old.get("channel_last") or {}).values():
        key = safe_key(channel_last["channel"])
        if newer(get_path(doc, f"channel_last.{key}.at"), channel_last["at"]):
            set_path(doc, f"channel_last.{key}", channel_last)
    for kind, latest in (old.get("latest") or {}).items():
        if newer(get_path(doc, f"latest.{kind}.at"), latest["at"]):
            set_path(doc, f"latest.{kind}", latest)
    for key, info in (old.get("case_info") or {}).items():
        doc.setdefault("case_info", {}).setdefault(key, info)
    if not old.get("case_info_complete"):
        doc.pop("case_info_complete", None)
    open_cases = old.get("open_cases") or {}
    for key, state in (old.get("case_state") or {}).items():
        apply_case_state(doc, state, open_cases.get(key))
    return True


def scrub_profile(doc: dict, erased_title: str, now: datetime) -> None:
    """Remove personal data from a profile document (erasure)."""
    identity = doc.get("identity") or {}
    for key in PII_FIELDS:
        identity.pop(key, None)
    if "identity" in doc:
        doc["identity"] = identity
    doc.pop("search", None)
    doc.pop("identity_from", None)
    doc.pop("aspect_counts", None)  # read from the comments, whose insight the erasure drops
    for field in ("open_cases", "case_info"):
        for entry in (doc.get(field) or {}).values():
            entry["title"] = erased_title
    doc.setdefault("erased_at", now)
