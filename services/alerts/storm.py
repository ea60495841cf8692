"""Storms: a customer rule whose throttle starts refusing matches in a period.

Pure code, no I/O. The first match a rule's throttle refuses in a period (its
``bucket``, ``rule:period``) makes the engine raise the period's **storm alert**, shaped
like a group alert (``scope: group``; the group is the rule: ``by: [rule]``,
``condition: storm``) so the cases service opens one incident for it. Its id comes from
the bucket alone, so every replica and redelivery that meets the storm builds the same
alert and the store's insert keeps one (an atomic claim, like a group alert's dedup
key); the one whose insert landed announces it. Every match refused in the period
attaches to it (``suppressed``), so the storm alert counts the storm.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from services.alerts.evaluate import event_summary
from services.alerts.rules import parse_duration

STORM = "storm"
RULE_PATH = "rule"  # the group path a storm is keyed on: the rule's id


def storm_id(bucket: str) -> str:
    """The storm alert of a throttle period: one per (rule, period), whoever meets it."""
    return "ST-" + hashlib.sha256(f"storm\x1f{bucket}".encode()).hexdigest()[:20]


def bucket_of(rule: dict, at: float) -> str:
    """The throttle period (``rule:index``) an event time falls in."""
    return f"{rule['id']}:{int(at // parse_duration(rule['throttle']['per']))}"


def period_of(rule: dict, bucket: str) -> tuple[datetime, datetime]:
    """The start and end (event time) of a bucket's period."""
    per = parse_duration(rule["throttle"]["per"])
    start = int(bucket.rsplit(":", 1)[1]) * per
    since = datetime.fromtimestamp(start, UTC)
    return since, since + timedelta(seconds=per)


def storm_alert(rule: dict, event: dict, event_key: str, bucket: str, now: datetime) -> dict:
    """The storm alert of ``bucket``, tipped by ``event`` (the period's first refused
    match met here): the rule's level, owner and channels; ``observed`` holds what was
    known when it was raised (``note_refused`` adds the batch's later refusals)."""
    throttle = rule["throttle"]
    since, until = period_of(rule, bucket)
    at = event["occurred_at"]
    return {
        "_id": storm_id(bucket),
        "raised_at": now,
        "raised_ts": now.timestamp(),
        "level": rule["level"],
        "rule": {"id": rule["id"], "version": rule["version"], "name": rule["name"]},
        "owner": rule["owner"],
        "channels": rule["channels"],
        "customer": {k: event["customer"][k] for k in ("id", "name", "tier") if k in event["customer"]},
        "event": event_summary(event),
        "trace": [
            {
                "path": "throttle",
                "value": dict(throttle),
                "actual": {"alerts": throttle["max_alerts"], "refused": True},
                "result": True,
            }
        ],
        "facts": {},
        "dedup": {"key": f"{STORM}|{bucket}", "cooldown": throttle["per"], "until": until},
        "count": 1,
        "last_seen": {"at": at, "event_id": event["event_id"], "source": event["source"]},
        "last_seen_ts": at.timestamp(),
        "throttle": throttle,  # refused matches attach here: storing it counts those already kept
        "storm": {"bucket": bucket, "tipped_by": event_key, "since": since, "until": until},
        "scope": "group",
        "group": {
            "by": [RULE_PATH],
            "key": {RULE_PATH: rule["id"]},
            "condition": STORM,
            "window": throttle["per"],
            "observed": {
                "max_alerts": throttle["max_alerts"],
                "alerts": throttle["max_alerts"],
                "refused": 0,
                "matches": throttle["max_alerts"],
                "since": since.isoformat(),
                "until": until.isoformat(),
            },
        },
    }


def note_refused(alert: dict) -> None:
    """One more refused match seen before the storm alert was stored."""
    observed = alert["group"]["observed"]
    observed["refused"] += 1
    observed["matches"] += 1


def totals(storm: dict, slot_counts: list[int]) -> dict[str, Any]:
    """A storm's live figures: the alerts that took the period's slots (``slot_counts``:
    each one's matches, its raising event and the repeats attached to it) and the
    refused matches attached to the storm alert; every match of the period is one of them."""
    alert_matches = sum(slot_counts)
    suppressed = int(storm.get("suppressed", 0))
    return {
        "alert_id": storm["_id"],
        "rule": storm["rule"],
        "since": storm["storm"]["since"],
        "until": storm["storm"]["until"],
        "max_alerts": (storm.get("throttle") or {}).get("max_alerts"),
        "alerts": len(slot_counts),
        "alert_matches": alert_matches,
        "suppressed": suppressed,
        "matches": alert_matches + suppressed,
    }
