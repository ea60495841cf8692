"""Scheduled digests per owner: when the next one is due, and what it says.

Each person may ask for a daily or weekly digest (``digest`` in the directory).
The schedule is a document per person in ``digests`` with ``next_run_at``
(epoch seconds), claimed with a lease by the same sweep that sends due
deliveries, so replicas never both run one digest. The digest itself is an
ordinary notification (kind ``digest``) with a deterministic id per person and
period: a re-run after a crash finds the deliveries already there.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

OPEN_STATUSES = ("open", "assigned", "in_progress", "pending_customer", "reopened")
PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def next_run(schedule: dict, timezone: str, after: datetime) -> datetime:
    """The first scheduled moment strictly after ``after`` (UTC), at ``schedule['at']``
    local time, on ``schedule['weekday']`` (0 = Monday) for weekly digests."""
    zone = ZoneInfo(timezone)
    hours, minutes = (int(x) for x in schedule["at"].split(":"))
    local = after.astimezone(zone)
    day = local.date()
    for _ in range(15):
        candidate = datetime.combine(day, time(hours, minutes), zone)
        weekly_ok = schedule["frequency"] != "weekly" or candidate.weekday() == schedule.get("weekday", 0)
        if candidate > local and weekly_ok:
            return candidate.astimezone(UTC)
        day += timedelta(days=1)
    raise ValueError(f"no next run for {schedule}")  # unreachable for valid schedules


def build_context(person: dict, cases: list[dict], frequency: str, end: datetime, console_url: str) -> dict:
    """The digest's template context from the owner's cases (as the cases service lists them)."""
    start = end - PERIODS[frequency]
    open_cases = [c for c in cases if c.get("status") in OPEN_STATUSES]

    def row(case: dict) -> dict:
        opened = case.get("opened_at")
        opened_at = datetime.fromisoformat(opened) if isinstance(opened, str) else opened
        age = int((end - opened_at).total_seconds() // 3600) if opened_at else None
        return {
            "case_id": case["_id"],
            "title": case.get("title", ""),
            "level": case.get("level", ""),
            "age_hours": age,
            "case_url": f"{console_url.rstrip('/')}/cases/{case['_id']}",
        }

    # SLA breaches appear once the cases service records them on the case (sla.breached).
    breaches = [row(c) for c in open_cases if (c.get("sla") or {}).get("breached")]
    rules = Counter((c.get("rule") or {}).get("name") or "?" for c in open_cases)
    return {
        "level": "P4",
        "title": f"{frequency} digest",
        "period": {"kind": frequency, "start": start.isoformat(), "end": end.isoformat()},
        "open_cases": [row(c) for c in open_cases],
        "breaches": breaches,
        "top_alerts": [{"rule": name, "count": n} for name, n in rules.most_common(5)],
        "recipient_id": person["id"],
    }


def digest_request(person: dict, context: dict, scheduled: datetime) -> dict:
    schedule = person["digest"]
    return {
        "notification_id": f"digest:{person['id']}:{int(scheduled.timestamp())}",
        "kind": "digest",
        "recipient": {"kind": "person", "id": person["id"]},
        "channels": schedule.get("channels") or ["email"],
        "level": "P4",
        "case_id": None,
        "context": context,
    }


def schedule_all(store, people: list[dict], now: datetime) -> None:
    """Record each person's digest schedule (first run: the next scheduled moment)."""
    for person in people:
        schedule = person.get("digest")
        first = (
            next_run(schedule, person.get("timezone") or "Asia/Shanghai", now).timestamp()
            if schedule
            else None
        )
        store.schedule_digest(person["id"], schedule, first)


class DigestRunner:
    """Runs due digests: claim the schedule, read the owner's cases (``list_cases``,
    the cases service's RPC), request the notification, move the schedule on."""

    def __init__(self, store, list_cases, pipeline, console_url: str, lease: float = 120.0):
        self.store = store
        self.list_cases = list_cases
        self.pipeline = pipeline
        self.console_url = console_url
        self.lease = lease

    def run(self, now: float) -> int:
        done = 0
        while (doc := self.store.claim_digest(now, self.lease)) is not None:
            person = self.store.recipient("person", doc["_id"])
            scheduled = datetime.fromtimestamp(doc["next_run_at"], UTC)
            zone = (person or {}).get("timezone") or "Asia/Shanghai"
            if person is not None and person.get("digest"):
                cases = self.list_cases(assignee=person["id"], limit=500)
                context = build_context(
                    person, cases, doc["schedule"]["frequency"], scheduled, self.console_url
                )
                self.pipeline.request(digest_request(person, context, scheduled), now)
            # the next run after the one just done: a service down for days sends one digest, not a backlog
            following = next_run(doc["schedule"], zone, max(scheduled, datetime.fromtimestamp(now, UTC)))
            self.store.digest_done(doc, following.timestamp())
            done += 1
        return done
