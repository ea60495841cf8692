"""Scheduled digests per owner: when the next one is due, and what it says.

Each person may ask for a daily or weekly digest (``digest`` in the directory).
APScheduler fires it: one cron job per person in the owner's time zone
(``digest_cron.py``), in every replica. The schedule is also a document per
person in ``digests`` with ``next_run_at`` (epoch seconds, from the same cron
trigger), claimed with a lease when the job fires, so of the replicas whose
schedulers all fire only one runs the digest. The digest itself is an
ordinary notification (kind ``digest``) with a deterministic id per person and
period: a re-run after a crash finds the deliveries already there.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger(__name__)

OPEN_STATUSES = ("open", "assigned", "in_progress", "pending_customer", "reopened")
PERIODS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}


def trigger(schedule: dict, timezone: str) -> CronTrigger:
    """The APScheduler cron trigger of a person's digest: ``schedule['at']`` local time
    in ``timezone`` (DST followed), every day or on ``schedule['weekday']`` (0 = Monday)."""
    hours, minutes = (int(x) for x in schedule["at"].split(":"))
    weekday = schedule.get("weekday", 0) if schedule["frequency"] == "weekly" else "*"
    return CronTrigger(day_of_week=weekday, hour=hours, minute=minutes, second=0, timezone=ZoneInfo(timezone))


def next_run(schedule: dict, timezone: str, after: datetime) -> datetime:
    """The first scheduled moment strictly after ``after`` (UTC), from the same cron
    trigger the scheduler fires on, so the claimed period and the wake-up agree."""
    fire = trigger(schedule, timezone).get_next_fire_time(None, after + timedelta(microseconds=1))
    if fire is None:  # pragma: no cover - a cron with hour and minute always fires again
        raise ValueError(f"no next run for {schedule}")
    return fire.astimezone(UTC)


# The SLA clocks the cases service keeps on a case (``sla.clocks.<name>``), in the order
# a digest lists them; a clock of another name follows these.
CLOCK_ORDER = ("acknowledge", "resolve")


def clock_states(case: dict, at: datetime) -> dict[str, str]:
    """Each SLA clock of ``case`` at ``at``: ``breached``, ``at_risk`` or ``ok``.

    Read from the clocks as the cases service stores them (services/cases/sla.py):
    a running clock is breached once ``due_epoch`` has passed and at risk once
    ``warn_epoch`` has; a paused clock that ran out before the pause keeps its
    ``breached_at``; a stopped clock that did not meet its budget has ``met`` false.
    """
    clocks = (case.get("sla") or {}).get("clocks") or {}
    moment = at.timestamp()
    states = {}
    for name in sorted(clocks, key=lambda n: CLOCK_ORDER.index(n) if n in CLOCK_ORDER else len(CLOCK_ORDER)):
        clock = clocks[name]
        due, warn = clock.get("due_epoch"), clock.get("warn_epoch")
        if clock.get("state") == "stopped":
            state = "breached" if clock.get("met") is False else "ok"
        elif clock.get("breached_at") or (due is not None and due <= moment):
            state = "breached"
        elif warn is not None and warn <= moment:
            state = "at_risk"
        else:
            state = "ok"
        states[name] = state
    return states


def case_alert_ids(case: dict) -> list[str]:
    """A case's alerts as the cases service lists it: the one that opened it
    (``alert_id``) and those attached since (``alerts``, keyed by slot)."""
    listed = case.get("alerts") or {}
    entries = listed.values() if isinstance(listed, dict) else listed
    found = [case.get("alert_id")] + [e.get("alert_id") for e in entries if isinstance(e, dict)]
    return list(dict.fromkeys(i for i in found if i))


def alert_ids(cases: list[dict]) -> list[str]:
    """The alerts of the open cases, each once."""
    ids = [i for case in cases if case.get("status") in OPEN_STATUSES for i in case_alert_ids(case)]
    return list(dict.fromkeys(ids))


def suppressed_rows(cases: list[dict], rows: list[dict], suppressed: dict[str, dict]) -> list[dict]:
    """Per open case, the matches its alerts' rules throttled and attached to them (the
    alerts service's ``suppressed_on_alerts``): the rule and the count, largest first."""
    out = []
    for case, line in zip(cases, rows, strict=True):
        for alert_id in (i for i in case_alert_ids(case) if i in suppressed):
            held = suppressed[alert_id]
            rule = held.get("rule") or {}
            out.append(
                {
                    **line,
                    "alert_id": alert_id,
                    "rule": rule.get("name") or rule.get("id"),
                    "count": held["count"],
                }
            )
    return sorted(out, key=lambda r: -r["count"])


def build_context(
    person: dict,
    cases: list[dict],
    frequency: str,
    end: datetime,
    console_url: str,
    suppressed: dict[str, dict] | None = None,
) -> dict:
    """The digest's template context from the owner's cases (as the cases service lists
    them): the open cases, those of them with a breached SLA clock and those with a
    clock at risk (each naming its clocks), the most frequent rules, and the matches
    throttled onto their alerts (``suppressed``: alert id -> count and rule, as the
    alerts service answers ``suppressed_on_alerts``; None when it did not answer).

    Each row names the case's customer (``customer``) and ``customer_ids`` lists them
    all, so an erasure (``customer_erased``) can find and scrub the digest."""
    start = end - PERIODS[frequency]
    open_cases = [c for c in cases if c.get("status") in OPEN_STATUSES]

    def row(case: dict) -> dict:
        opened = case.get("opened_at")
        opened_at = datetime.fromisoformat(opened) if isinstance(opened, str) else opened
        age = int((end - opened_at).total_seconds() // 3600) if opened_at else None
        customer = case.get("customer") or {}
        return {
            "case_id": case["_id"],
            "title": case.get("title", ""),
            "level": case.get("level", ""),
            "age_hours": age,
            "case_url": f"{console_url.rstrip('/')}/cases/{case['_id']}",
            "customer": {"id": customer.get("id"), "name": customer.get("name")},
        }

    rows = [row(c) for c in open_cases]
    breaches, at_risk = [], []
    for case, line in zip(open_cases, rows, strict=True):
        states = clock_states(case, end)
        breached = [name for name, state in states.items() if state == "breached"]
        risky = [name for name, state in states.items() if state == "at_risk"]
        if breached:
            breaches.append({**line, "clocks": breached})
        elif risky:
            at_risk.append({**line, "clocks": risky})
    rules = Counter((c.get("rule") or {}).get("name") or "?" for c in open_cases)
    return {
        "level": "P4",
        "title": f"{frequency} digest",
        "period": {"kind": frequency, "start": start.isoformat(), "end": end.isoformat()},
        "open_cases": rows,
        "breaches": breaches,
        "at_risk": at_risk,
        "top_alerts": [{"rule": name, "count": n} for name, n in rules.most_common(5)],
        # never silently empty: None says the alerts service did not answer
        "suppressed": None if suppressed is None else suppressed_rows(open_cases, rows, suppressed),
        "recipient_id": person["id"],
        "customer_ids": sorted({r["customer"]["id"] for r in rows if r["customer"]["id"]}),
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

    def __init__(self, store, list_cases, pipeline, console_url: str, lease: float = 120.0, suppressed=None):
        self.store = store
        self.list_cases = list_cases
        # alert ids -> throttled matches attached to them (the alerts service's RPC)
        self.suppressed = suppressed
        self.pipeline = pipeline
        self.console_url = console_url
        self.lease = lease

    def run(self, now: float, person_id: str | None = None) -> int:
        """Run every due digest (or only ``person_id``'s) this replica manages to claim."""
        done = 0
        while (doc := self.store.claim_digest(now, self.lease, person_id)) is not None:
            person = self.store.recipient("person", doc["_id"])
            scheduled = datetime.fromtimestamp(doc["next_run_at"], UTC)
            zone = (person or {}).get("timezone") or "Asia/Shanghai"
            if person is not None and person.get("digest"):
                cases = self.list_cases(assignee=person["id"], limit=500)
                context = build_context(
                    person,
                    cases,
                    doc["schedule"]["frequency"],
                    scheduled,
                    self.console_url,
                    self._suppressed(alert_ids(cases)),
                )
                self.pipeline.request(digest_request(person, context, scheduled), now)
            # the next run after the one just done: a service down for days sends one digest, not a backlog
            following = next_run(doc["schedule"], zone, max(scheduled, datetime.fromtimestamp(now, UTC)))
            self.store.digest_done(doc, following.timestamp())
            done += 1
        return done

    def _suppressed(self, ids: list[str]) -> dict[str, dict] | None:
        """The throttled matches on these alerts; None (said so in the digest) when the
        alerts service cannot answer: the digest still goes out."""
        if self.suppressed is None:
            return None
        if not ids:
            return {}
        try:
            return self.suppressed(ids)
        except Exception:  # noqa: BLE001 - any RPC failure: the rest of the digest stands
            log.exception("alerts did not answer suppressed_on_alerts; digest without suppressed matches")
            return None
