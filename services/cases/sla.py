"""SLA clocks per alert level, counted in business time: pure, clock-injected code.

A policy (versioned data, ``samples/sla.yaml``) gives each level a time to
acknowledge and a time to resolve in working minutes, the calendar they are
counted on (a named calendar, ``24x7``, or the owning team's calendar) and the
share of the budget after which a pre-breach warning is due (default 80 %).

**Snapshot at open, explicit re-apply.** When a case opens, its level's terms and
the calendar's definition are copied onto the case (``sla.policy``), so editing a
policy or a calendar never moves the deadlines of a case in flight. Applying a
new policy version with ``apply_to_open_cases`` (or ``reapply_sla`` for one case)
re-snapshots open cases: the working time already used is kept and the new
budgets count from there.

A clock is a small dict stored on the case: ``budget`` and ``used`` working
minutes, ``running_since`` while it runs, and the derived ``due``/``warn_at``
(with epoch copies for queries). ``pending_customer`` pauses the running clocks
(the working time used so far is banked and the deadline cleared), ``resume``
restarts them so the deadline moves out by exactly the paused working time;
acknowledging stops the acknowledge clock, resolving stops both; reopening
starts fresh clocks from the reopen time (a reopened case is a new promise to
the customer, and both times are kept in the audit trail).

**Pre-breach warnings** (``decide_warning``): the owner is warned once per clock
(and per reopen) when a running clock passes its warning time, inside the case's
business hours except on P1; the sweep that applies the decision is in
``sweeps.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.messages import LEVELS
from services.cases.business_calendar import CN_YEARS, WEEKDAYS, Calendar, always_open, parse_span
from services.common.validation import StrictSchema, load_valid

CLOCKS = ("acknowledge", "resolve")
log = logging.getLogger(__name__)


def _span(value: str) -> None:
    try:
        parse_span(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class StatutoryOverrideSchema(StrictSchema):
    """One year's State Council holiday notice, entered by an admin (precedes chinesecalendar)."""

    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    holidays = fields.List(fields.Date(), required=True, metadata={"description": "statutory days off"})
    workdays = fields.List(fields.Date(), load_default=list, metadata={"description": "调休 make-up days"})

    @validates_schema(skip_on_field_errors=True)
    def _dates(self, data, **_):
        errors: dict[str, list[str]] = {}
        for name in ("holidays", "workdays"):
            stray = [d.isoformat() for d in data[name] if d.year != data["year"]]
            if stray:
                errors[name] = [f"not in {data['year']}: {', '.join(stray)}"]
        weekdays = [d.isoformat() for d in data["workdays"] if d.weekday() < 5]
        if weekdays:
            errors.setdefault("workdays", []).append(
                f"make-up working days (调休) fall on a Saturday or Sunday: {', '.join(weekdays)}"
            )
        both = sorted(d.isoformat() for d in set(data["holidays"]) & set(data["workdays"]))
        if both:
            errors.setdefault("workdays", []).append(f"also listed as holidays: {', '.join(both)}")
        if errors:
            raise ValidationError(errors)


class CalendarSchema(StrictSchema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    timezone = fields.String(required=True)
    hours = fields.Dict(
        keys=fields.String(validate=validate.OneOf(WEEKDAYS)),
        values=fields.List(fields.String(validate=_span)),
        required=True,
    )
    holidays = fields.String(load_default="none", validate=validate.OneOf(("cn", "none")))
    extra_holidays = fields.List(fields.Date(), load_default=list)
    extra_workdays = fields.List(fields.Date(), load_default=list)
    statutory_overrides = fields.List(fields.Nested(StatutoryOverrideSchema), load_default=list)

    @validates_schema(skip_on_field_errors=True)
    def _years_once(self, data, **_):
        years = [o["year"] for o in data["statutory_overrides"]]
        dupes = sorted({y for y in years if years.count(y) > 1})
        if dupes:
            raise ValidationError({"statutory_overrides": [f"one entry per year: {dupes} repeated"]})

    @validates_schema
    def _zone(self, data, **_):
        try:
            Calendar.from_spec({**data, "hours": {}})
        except Exception:
            raise ValidationError({"timezone": [f"unknown time zone {data.get('timezone')!r}"]}) from None


class LevelTermsSchema(StrictSchema):
    acknowledge_minutes = fields.Integer(required=True, validate=validate.Range(min=1, max=525_600))
    resolve_minutes = fields.Integer(required=True, validate=validate.Range(min=1, max=525_600))
    calendar = fields.String(load_default=None, metadata={"description": "calendar id, 24x7, or team's"})


class PolicySchema(StrictSchema):
    id = fields.String(load_default="default", validate=validate.Length(min=1, max=64))
    warn_ratio = fields.Float(load_default=0.8, validate=validate.Range(min=0.05, max=0.99))
    default_calendar = fields.String(required=True)
    calendars = fields.List(fields.Nested(CalendarSchema), required=True)
    levels = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LEVELS)),
        values=fields.Nested(LevelTermsSchema),
        required=True,
    )

    @validates_schema(skip_on_field_errors=False)
    def _references(self, data, **_):
        known = {c.get("id") for c in data.get("calendars") or []} | {"24x7"}
        errors: dict[str, list[str]] = {}
        if data.get("default_calendar") and data["default_calendar"] not in known:
            errors["default_calendar"] = [f"unknown calendar {data['default_calendar']}"]
        for level, terms in (data.get("levels") or {}).items():
            if terms.get("calendar") and terms["calendar"] not in known:
                errors[f"levels.{level}.calendar"] = [f"unknown calendar {terms['calendar']}"]
            if terms.get("acknowledge_minutes", 0) > terms.get("resolve_minutes", 1e9):
                errors[f"levels.{level}.acknowledge_minutes"] = ["must not exceed resolve_minutes"]
        missing = [lv for lv in LEVELS if lv not in (data.get("levels") or {})]
        if missing:
            errors["levels"] = [f"missing levels: {', '.join(missing)}"]
        if errors:
            raise ValidationError(errors)


def load_policy(document) -> dict:
    policy = load_valid(
        PolicySchema, document, shape="an SLA policy is {default_calendar, calendars: [...], levels: {...}}"
    )
    for cal in policy["calendars"]:  # stored as strings: the snapshot is plain data
        cal["extra_holidays"] = [d.isoformat() for d in cal["extra_holidays"]]
        cal["extra_workdays"] = [d.isoformat() for d in cal["extra_workdays"]]
        cal["statutory_overrides"] = [
            {
                **o,
                "holidays": [d.isoformat() for d in o["holidays"]],
                "workdays": [d.isoformat() for d in o["workdays"]],
            }
            for o in cal["statutory_overrides"]
        ]
    return policy


def coverage_warnings(policy: dict, today: date) -> list[str]:
    """Calendars that would count this year or next without statutory holiday data."""
    out = []
    for spec in policy["calendars"]:
        cal = Calendar.from_spec(spec)
        for year in (today.year, today.year + 1):
            if not cal.covers(date(year, 1, 1)):
                out.append(
                    f"calendars.{spec['id']}: no statutory holiday data for {year} (chinesecalendar covers "
                    f"{CN_YEARS[0]}-{CN_YEARS[-1]}); add statutory_overrides for {year}, or its holidays "
                    "count as working days"
                )
    return out


def calendar_of(spec: dict) -> Calendar:
    return always_open() if spec["id"] == "24x7" else Calendar.from_spec(spec)


def terms_for(policy: dict, version: int, level: str, team_calendar: str | None) -> dict:
    """The snapshot a case keeps: its level's terms and its calendar's definition."""
    terms = policy["levels"][level]
    calendars = {c["id"]: c for c in policy["calendars"]}
    wanted = terms.get("calendar") or (team_calendar if team_calendar in calendars else None)
    wanted = wanted or policy["default_calendar"]
    calendar = calendars.get(wanted, {"id": "24x7"})
    return {
        "policy_id": policy["id"],
        "version": version,
        "level": level,
        "acknowledge_minutes": terms["acknowledge_minutes"],
        "resolve_minutes": terms["resolve_minutes"],
        "warn_ratio": policy["warn_ratio"],
        "calendar": calendar,
    }


# clocks ------------------------------------------------------------------------


def _derive(clock: dict, now: datetime, cal: Calendar, ratio: float) -> dict:
    """Fill due/warn_at for a running clock from ``now`` and what is left of the budget."""
    left = clock["budget"] - clock["used"]
    # a budget that ran out before a pause stays due when it ran out
    due = cal.add(now, left) if left > 0 else (clock.get("breached_at") or now)
    warn = cal.add(now, max(clock["budget"] * ratio - clock["used"], 0))
    return {**clock, "running_since": now, "due": due, "warn_at": warn, **_epochs(due, warn)}


def _epochs(due: datetime | None, warn: datetime | None) -> dict:
    return {
        "due_epoch": due.timestamp() if due else None,
        "warn_epoch": warn.timestamp() if warn else None,
    }


def start_clock(budget: float, now: datetime, cal: Calendar, ratio: float) -> dict:
    clock = {
        "budget": budget,
        "used": 0.0,
        "state": "running",
        "stopped_at": None,
        "met": None,
        "breached_at": None,
    }
    return _derive(clock, now, cal, ratio)


def pause_clock(clock: dict, now: datetime, cal: Calendar) -> dict:
    if clock["state"] != "running":
        return clock
    used = clock["used"] + cal.between(clock["running_since"], now)
    breached_at = clock["due"] if clock["due"] <= now else clock.get("breached_at")
    return {
        **clock,
        "used": used,
        "state": "paused",
        "breached_at": breached_at,
        "running_since": None,
        "due": None,
        "warn_at": None,
        **_epochs(None, None),
    }


def resume_clock(clock: dict, now: datetime, cal: Calendar, ratio: float) -> dict:
    if clock["state"] != "paused":
        return clock
    return _derive({**clock, "state": "running"}, now, cal, ratio)


def stop_clock(clock: dict, now: datetime, cal: Calendar) -> dict:
    if clock["state"] == "stopped":
        return clock
    used = clock["used"]
    if clock["state"] == "running":
        used += cal.between(clock["running_since"], now)
    return {
        **clock,
        "used": used,
        "state": "stopped",
        "running_since": None,
        "stopped_at": now,
        "met": used <= clock["budget"],
        "due": None,
        "warn_at": None,
        **_epochs(None, None),
    }


def open_sla(terms: dict, now: datetime) -> dict:
    cal = calendar_of(terms["calendar"])
    ratio = terms["warn_ratio"]
    clocks = {name: start_clock(terms[f"{name}_minutes"], now, cal, ratio) for name in CLOCKS}
    return {"policy": terms, "clocks": clocks, "warnings": _coverage(cal, now, clocks)}


def _coverage(cal: Calendar, now: datetime, clocks: dict) -> list[str]:
    dues = [c["due"] for c in clocks.values() if c.get("due")]
    if not dues:
        return []
    missing = cal.days_not_covered(now, max(dues))
    for year in missing:
        _warn_uncovered(cal.id, year)
    return [f"no statutory holiday data for {y}: weekly hours only" for y in missing]


@lru_cache(maxsize=64)
def _warn_uncovered(calendar_id: str, year: str) -> None:
    """Log once per calendar and year (every affected case also carries the warning)."""
    log.warning(
        "calendar %s: no statutory holiday data for %s; deadlines count weekly hours only "
        "(add statutory_overrides for %s to the SLA policy)",
        calendar_id,
        year,
        year,
    )


def on_action(sla: dict | None, action: str, now: datetime) -> dict | None:
    """The case's SLA after a lifecycle action (None: the case has no SLA)."""
    if not sla:
        return sla
    terms = sla["policy"]
    cal = calendar_of(terms["calendar"])
    ratio = terms["warn_ratio"]
    clocks = dict(sla["clocks"])
    if action in ("acknowledge", "start"):
        clocks["acknowledge"] = stop_clock(clocks["acknowledge"], now, cal)
    elif action == "pending_customer":
        clocks = {k: pause_clock(c, now, cal) for k, c in clocks.items()}
    elif action == "resume":
        clocks = {k: resume_clock(c, now, cal, ratio) for k, c in clocks.items()}
    elif action == "resolve":
        clocks = {k: stop_clock(c, now, cal) for k, c in clocks.items()}
    elif action == "reopen":
        return open_sla(terms, now)
    else:
        return sla
    return {**sla, "clocks": clocks, "warnings": _coverage(cal, now, clocks) or sla.get("warnings", [])}


def reapply(sla: dict | None, terms: dict, now: datetime) -> dict:
    """Re-snapshot a case onto new terms, keeping the working time already used.

    A running clock banks its working time on the old calendar and runs on
    from ``now`` on the new one; a budget already used up is due at ``now``.
    """
    if not sla:
        return open_sla(terms, now)
    old_cal = calendar_of(sla["policy"]["calendar"])
    new_cal = calendar_of(terms["calendar"])
    clocks = {}
    for name, clock in sla["clocks"].items():
        budget = terms[f"{name}_minutes"]
        if clock["state"] == "running":
            banked = {**pause_clock(clock, now, old_cal), "budget": budget, "breached_at": None}
            clocks[name] = resume_clock(banked, now, new_cal, terms["warn_ratio"])
        elif clock["state"] == "paused":
            clocks[name] = {**clock, "budget": budget, "breached_at": None}
        else:
            clocks[name] = clock
    return {"policy": terms, "clocks": clocks, "warnings": _coverage(new_cal, now, clocks)}


def breach_state(sla: dict | None, now: datetime) -> str:
    """``breached``, ``warning`` or ``ok`` for the case right now."""
    if not sla:
        return "ok"
    state = "ok"
    for clock in sla["clocks"].values():
        if clock["state"] == "stopped" and clock["met"] is False:
            return "breached"
        if clock["state"] == "running":
            if now >= clock["due"]:
                return "breached"
            if now >= clock["warn_at"]:
                state = "warning"
    return state


def summary(sla: dict | None) -> dict | None:
    """A case's SLA as a dry run shows it: policy, calendar, due and warning times."""
    if not sla:
        return None
    terms, clocks = sla["policy"], sla["clocks"]
    return {
        "policy": terms["policy_id"],
        "version": terms["version"],
        "level": terms["level"],
        "calendar": terms["calendar"]["id"],
        "ack_due": clocks["acknowledge"].get("due"),
        "resolve_due": clocks["resolve"].get("due"),
        "warn_at": {name: clock.get("warn_at") for name, clock in clocks.items()},
        "warnings": sla.get("warnings", []),
    }


# business hours and pre-breach warnings ------------------------------------------


def business_hours(case: dict) -> Callable[[datetime], datetime] | None:
    """When a case's calendar next opens (``next_open``) if reminders about it wait for
    business hours; None (any time) on P1 and for a case without an SLA."""
    if case["level"] == "P1" or not case.get("sla"):
        return None
    return calendar_of(case["sla"]["policy"]["calendar"]).next_open


WARNING_KINDS = {"acknowledge": "response", "resolve": "resolution"}  # clock -> what is at risk


def warning_tag(case: dict, clock: str) -> str:
    """Names the warning of ``clock`` in this run of the case (its notification id)."""
    return f"sla-warning:{clock}:o{case.get('reopen_count', 0)}"


@dataclass(frozen=True)
class WarningDecision:
    """What to do about an at-risk clock: ``warn`` (``sla``: what the message says of
    the clock), or not now: ``no_owner``, ``already_sent``, ``after_hours`` (it waits
    for the next working minute, if the case is still at risk then)."""

    outcome: str
    sla: dict | None = None


def decide_warning(case: dict, clock: str, now: datetime, sent: Callable[[], bool]) -> WarningDecision:
    """Whether to warn the owner of ``case`` now that ``clock`` is at risk. ``sent()``
    says whether this warning was sent already (asked only when there is an owner)."""
    if case["assignee"] is None:
        return WarningDecision("no_owner")
    if sent():
        return WarningDecision("already_sent")
    opens = business_hours(case)
    if opens is not None and opens(now) > now:
        return WarningDecision("after_hours")
    due = case["sla"]["clocks"][clock]["due"]
    remaining = round((due - now).total_seconds() / 60)
    return WarningDecision(
        "warn", {"kind": WARNING_KINDS[clock], "due_at": due, "remaining_minutes": remaining}
    )
