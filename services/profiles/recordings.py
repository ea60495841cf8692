"""What each event records on a profile: its timeline entries and its change to the profile.

Pure: a ``Recording`` says whose event it is, builds its timeline entry for the
customer it lands on (after merges) and whether that customer is erased, and
applies the event to a copy of the profile. ``recorder.py`` writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.common.erasure import ERASED
from services.profiles.profile import (
    CLOSED_CASE_STATUSES,
    apply_alert,
    apply_case_opened,
    apply_case_state,
    apply_feedback,
    case_facts,
    case_state,
    feedback_key,
    get_path,
    newer,
    open_case_entry,
    timeline_entry,
    without_pii,
)


@dataclass(frozen=True)
class Recording:
    """One event for ``Recorder.record_many``: whose it is, its timeline entry
    (``entry_for(target, erased)``) and its change to the profile
    (``change(profile, erased, now)`` → changed?)."""

    customer_id: str
    entry_for: Callable[[str, bool], dict]
    change: Callable[[dict, bool, datetime], bool]
    # further timeline entries of the same event (a case opened already assigned: the milestone)
    also: Callable[[str, bool], list[dict]] = lambda target, erased: []


def feedback_recording(event: dict) -> Recording:
    def entry_for(target: str, erased: bool) -> dict:
        return timeline_entry(without_pii(event) if erased else event, target)

    def change(doc: dict, erased: bool, now: datetime) -> bool:
        return apply_feedback(doc, without_pii(event) if erased else event, now)

    return Recording(event["customer"]["id"], entry_for, change)


def profile_updated(event: dict, profile: dict, at: datetime) -> dict:
    """What ``profile_updated`` announces once ``event`` is recorded on ``profile``."""
    return {
        "customer_id": profile["_id"],
        "cause": {"kind": "feedback", "key": feedback_key(event)},
        "updated_at": at,
        "feedback_count": profile.get("feedback_count", 0),
        "latest_scores": {k: v["value"] for k, v in profile.get("latest", {}).items()},
    }


def alert_recording(alert: dict) -> Recording:
    def entry_for(target: str, erased: bool) -> dict:
        return {
            "_id": f"alert:{alert['alert_id']}",
            "customer_id": target,
            # placed at the feedback it is about, so the journey reads in the
            # customer's order even when a stream is replayed days later
            "at": alert["event"]["occurred_at"],
            "raised_at": alert["raised_at"],
            "kind": "alert",
            "alert_id": alert["alert_id"],
            "level": alert["level"],
            "rule": alert["rule"],
            "rule_id": alert["rule"]["id"],
        }

    def change(doc: dict, erased: bool, now: datetime) -> bool:
        return apply_alert(doc, alert, now)

    return Recording(alert["customer"]["id"], entry_for, change)


def milestone_entry(
    target: str, erased: bool, case_id: str, level: str, move: tuple[str, str], at: datetime, by: str, **why
) -> dict:
    """A case's status move on the timeline; one id per move, whichever message carried it."""
    entry = {
        "_id": f"case:{case_id}:status:{at.isoformat()}:{move[0]}>{move[1]}",
        "customer_id": target,
        "at": at,
        "kind": "case_milestone",
        "case_id": case_id,
        "level": level,
        "from_status": move[0],
        "to_status": move[1],
        "changed_by": by,
    }
    if not erased:
        entry.update({k: v for k, v in why.items() if v is not None})
    return entry


def case_opened_recording(case: dict) -> Recording:
    given = case.get("assignment")  # assigned as it opened: the milestone rides along

    def entry_for(target: str, erased: bool) -> dict:
        return {
            "_id": f"case:{case['case_id']}:opened",
            "customer_id": target,
            "at": case["opened_at"],
            "kind": "case_opened",
            "case_id": case["case_id"],
            "level": case["level"],
            "title": ERASED if erased else case["title"],
            "rule_name": case["rule"]["name"],
        }

    def also(target: str, erased: bool) -> list[dict]:
        if given is None:
            return []
        move = ("open", case["status"])
        return [
            milestone_entry(
                target,
                erased,
                case["case_id"],
                case["level"],
                move,
                given["at"],
                given["by"],
                reason=given["reason"],
            )
        ]

    def change(doc: dict, erased: bool, now: datetime) -> bool:
        title = ERASED if erased else case["title"]
        at = given["at"] if given is not None else case["opened_at"]
        return apply_case_opened(
            doc,
            case_state(case["case_id"], case["status"], at, case["level"]),
            open_case_entry(case["case_id"], case["status"], case["level"], title, case["opened_at"]),
        )

    return Recording(case["customer"]["id"], entry_for, change, also)


def case_status_recording(change: dict, opened_entry: Callable[[str], dict | None]) -> Recording:
    """A case milestone: a timeline entry, and the open-case list follows the newest status.

    ``opened_entry(case_id)``: the case's opening timeline entry, read only for a
    profile written before the case's title and opening were kept on it.
    """
    case_id, status, at = change["case_id"], change["to_status"], change["changed_at"]

    def entry_for(target: str, erased: bool) -> dict:
        move = (change["from_status"], status)
        why = {"reason": change.get("reason"), "resolution": change.get("resolution")}
        by = change["changed_by"]
        return milestone_entry(target, erased, case_id, change["level"], move, at, by, **why)

    def apply(doc: dict, erased: bool, now: datetime) -> bool:
        open_entry = None
        if status not in CLOSED_CASE_STATUSES:
            # title and opening time are immutable facts of the case, known from its
            # opening (a profile written before they were kept there: its timeline entry)
            facts = case_facts(doc, case_id)
            if facts is None:
                opened = opened_entry(case_id) or {}
                facts = {"title": opened.get("title"), "opened_at": opened.get("at", at)}
            opened_at = facts["opened_at"] or at
            open_entry = open_case_entry(case_id, status, change["level"], facts["title"], opened_at)
        return apply_case_state(doc, case_state(case_id, status, at, change["level"]), open_entry)

    return Recording(change["customer_id"], entry_for, apply)


def customer_message_recording(outcome: dict) -> Recording:
    """A message sent to the customer (``customer_message_outcome`` with status ``sent``):
    an outbound contact on the timeline, which contact fatigue counts, and the profile's
    ``last_outreach`` (latest wins)."""
    at = outcome["finished_at"]

    def entry_for(target: str, erased: bool) -> dict:
        return {
            "_id": f"customer_message:{outcome['message_id']}",
            "customer_id": target,
            "at": at,
            "kind": "customer_message",
            "message_id": outcome["message_id"],
            "purpose": outcome["purpose"],
            "channel": outcome["channel"],
            "case_id": outcome.get("case_id"),
        }

    def change(doc: dict, erased: bool, now: datetime) -> bool:
        if not newer(get_path(doc, "last_outreach.at"), at):
            return False
        doc["last_outreach"] = {"at": at, "channel": outcome["channel"], "purpose": outcome["purpose"]}
        return True

    return Recording(outcome["customer_id"], entry_for, change)
