"""Follow-up with the customer after resolution (回访) as data: pure code, no I/O.

A follow-up policy is an ordered list of rules; the first rule whose ``match``
fits a resolved case decides its follow-up (no rule: no follow-up)::

    id: default
    rules:
      - name: vip-and-urgent
        match: {levels: [P1, P2], tiers: [vip], root_causes: [product_defect]}
        after_business_hours: 24      # after the resolution, on the calendar below
        calendar: shanghai-office     # an SLA policy calendar, or 24x7; default: the case's
        by: automatic                 # automatic | owner | team
        team: care-followup           # who does it when by: team
        channels: [sms, email]        # customer channels, in order of preference
        survey: csat                  # csat (1-5) | nps (0-10)
        language: zh-CN
        task_sla_business_hours: 8    # a follow-up task's own deadline, from when it opens
        link_valid_hours: 72          # the survey link's life (wall-clock)

Every ``match`` list is optional (absent: any value). Policies are versioned like
the escalation policies; a follow-up keeps the policy version and rule that made it.

**Answers.** ``classify``: CSAT 4-5 and NPS 9-10 are *satisfied* (the case becomes
``verified``); CSAT 3 and NPS 7-8 are *passive* (the case stays resolved: recovered,
not satisfied); CSAT 1-2 and NPS 0-6 are *unhappy* (the case is reopened and its owner
told). A case whose alert came from a detractor (NPS 0-6 or CSAT 1-2) is *recovered*
when its follow-up answer is passive or satisfied (``metrics.followup_summary``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.messages import CUSTOMER_CHANNELS, LEVELS
from services.cases import metrics, sla
from services.cases.business_calendar import Calendar, always_open
from services.common import settings
from services.common.errors import BadRequest
from services.common.survey_links import SCALE_RANGES, SCALES
from services.common.validation import StrictSchema, load_valid

MODES = ("automatic", "owner", "team")
LANGUAGES = ("zh-CN", "en")
CLASSES = ("satisfied", "passive", "unhappy")


def _root_causes() -> list[str]:
    return [c.strip() for c in settings.get("CASE_ROOT_CAUSES").split(",") if c.strip()]


class MatchSchema(StrictSchema):
    levels = fields.List(fields.String(validate=validate.OneOf(LEVELS)), load_default=None)
    tiers = fields.List(fields.String(validate=validate.Length(min=1, max=32)), load_default=None)
    root_causes = fields.List(fields.String(), load_default=None)

    @validates_schema(skip_on_field_errors=True)
    def _known_causes(self, data, **_):
        known = _root_causes()
        for i, cause in enumerate(data.get("root_causes") or ()):
            if cause not in known:
                raise ValidationError({f"root_causes.{i}": [f"unknown root cause {cause!r}; known: {known}"]})


class RuleSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    match = fields.Nested(MatchSchema, load_default=dict)
    after_business_hours = fields.Float(load_default=24.0, validate=validate.Range(min=0, max=2000))
    calendar = fields.String(load_default=None, validate=validate.Length(min=1, max=64))
    by = fields.String(required=True, validate=validate.OneOf(MODES))
    team = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    channels = fields.List(
        fields.String(validate=validate.OneOf(CUSTOMER_CHANNELS)),
        required=True,
        validate=validate.Length(min=1, max=len(CUSTOMER_CHANNELS)),
    )
    survey = fields.String(load_default="csat", validate=validate.OneOf(SCALES))
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(LANGUAGES))
    task_sla_business_hours = fields.Float(
        load_default=8.0, validate=validate.Range(min=0, max=2000, min_inclusive=False)
    )
    link_valid_hours = fields.Float(load_default=72.0, validate=validate.Range(min=0.01, max=24 * 90))

    @validates_schema(skip_on_field_errors=True)
    def _consistent(self, data, **_):
        if data["by"] == "team" and not data.get("team"):
            raise ValidationError({"team": ["by: team needs the team that does the follow-up"]})
        if len(set(data["channels"])) != len(data["channels"]):
            raise ValidationError({"channels": ["a channel is listed twice"]})


class FollowupPolicySchema(StrictSchema):
    id = fields.String(load_default="default", validate=validate.Length(min=1, max=64))
    rules = fields.List(fields.Nested(RuleSchema), required=True, validate=validate.Length(max=100))

    @validates_schema(skip_on_field_errors=True)
    def _unique_names(self, data, **_):
        seen: set[str] = set()
        for i, rule in enumerate(data["rules"]):
            if rule["name"] in seen:
                raise ValidationError({f"rules.{i}.name": [f"rule name {rule['name']!r} is used twice"]})
            seen.add(rule["name"])


def load_policy(document, calendars: list[str] | None = None) -> dict:
    """A validated follow-up policy; ``calendars``: the ids a rule may name (the SLA
    policy's calendars; ``24x7`` always)."""
    policy = load_valid(
        FollowupPolicySchema, document, shape="a follow-up policy is {id, rules: [{name, match, by, ...}]}"
    )
    known = {"24x7", *(calendars or ())}
    errors = [
        f"rules.{i}.calendar: unknown calendar {rule['calendar']!r}; known: {sorted(known)}"
        for i, rule in enumerate(policy["rules"])
        if rule["calendar"] and rule["calendar"] not in known
    ]
    if errors:
        raise BadRequest(errors)
    return policy


# matching and timing ----------------------------------------------------------------


def match(policy: dict | None, case: dict) -> dict | None:
    """The first rule of ``policy`` whose ``match`` fits the resolved ``case``."""
    facts = {
        "levels": case.get("level"),
        "tiers": (case.get("customer") or {}).get("tier"),
        "root_causes": (case.get("resolution") or {}).get("root_cause"),
    }
    for rule in (policy or {}).get("rules", ()):
        wanted = rule.get("match") or {}
        if all(wanted.get(k) is None or v in wanted[k] for k, v in facts.items()):
            return rule
    return None


def calendar_for(rule: dict, case: dict, sla_policy: dict | None) -> Calendar:
    """The calendar a rule counts business hours on: the one it names (``24x7`` or an
    SLA policy calendar), else the case's SLA calendar snapshot, else always open."""
    named = rule.get("calendar")
    if named == "24x7":
        return always_open()
    if named:
        for spec in (sla_policy or {}).get("calendars", ()):
            if spec["id"] == named:
                return sla.calendar_of(spec)
    if case.get("sla"):
        return sla.calendar_of(case["sla"]["policy"]["calendar"])
    return always_open()


def due_at(rule: dict, calendar: Calendar, resolved_at: datetime) -> datetime:
    """When the follow-up is due: ``after_business_hours`` of working time after resolution."""
    return calendar.add(resolved_at, rule["after_business_hours"] * 60)


def task_due_at(rule: dict, calendar: Calendar, opened_at: datetime) -> datetime:
    """A follow-up task's deadline: ``task_sla_business_hours`` of working time after it opens."""
    return calendar.add(opened_at, rule["task_sla_business_hours"] * 60)


def followup_id(case: dict) -> str:
    """One follow-up per resolution run of a case (a reopened and resolved again case
    gets a new one)."""
    return f"{case['_id']}:fu{case.get('reopen_count', 0)}"


def was_detractor(case: dict) -> bool:
    """Did the case's alert come from a detractor (NPS 0-6 or CSAT 1-2)?"""
    scores = (case.get("event") or {}).get("scores") or {}
    nps, csat = scores.get("nps"), scores.get("csat")
    return (nps is not None and nps <= 6) or (csat is not None and csat <= 2)


def new_followup(
    case: dict, rule: dict, policy: dict, version: int, calendar: Calendar, resolved_at: datetime
) -> dict:
    """The follow-up of a case just resolved, due per ``rule`` (state ``pending``)."""
    due = due_at(rule, calendar, resolved_at)
    deadline = calendar.add(due, rule["task_sla_business_hours"] * 60)
    return {
        "_id": followup_id(case),
        "case_id": case["_id"],
        "case_opened_ms": metrics.epoch_ms(case["opened_at"]),  # the metrics' period (of_period)
        "customer_id": case["customer"]["id"],
        "policy": {"id": policy["id"], "version": version, "rule": rule["name"]},
        "rule": rule,
        "calendar": calendar.id,
        "mode": rule["by"],
        "level": case["level"],
        "detractor": was_detractor(case),
        "resolved_at": resolved_at,
        "due_at": due,
        "due_epoch": due.timestamp(),
        "deadline_at": deadline,  # the follow-up is on time if done (or sent) by then
        "deadline_epoch": deadline.timestamp(),
        "state": "pending",
        "lease_until": 0.0,
        "claimed_by": "",
        "task": None,
        "message": None,
        "answer": None,
    }


# what a due follow-up does --------------------------------------------------------------


@dataclass(frozen=True)
class Cancel:
    why: str


@dataclass(frozen=True)
class Send:
    """Ask notify for the survey message (``customer_message_requested``)."""

    expires_at: datetime


@dataclass(frozen=True)
class Task:
    """Open a follow-up task for ``assignee`` (person or team), due at ``due``."""

    assignee: dict
    due: datetime
    why: str


Decision = Cancel | Send | Task


def task_for(fu: dict, case: dict, now: datetime, calendar: Calendar, why: str) -> Task:
    """A task for the case's owner (person, else its team), or the rule's team."""
    rule = fu["rule"]
    owner = case.get("assignee")
    if rule["by"] == "team":
        assignee = {"kind": "team", "id": rule["team"]}
    elif owner and owner.get("kind") in ("person", "team"):
        assignee = owner
    else:
        assignee = {"kind": "team", "id": rule.get("team") or case.get("team") or "unassigned"}
    return Task(assignee, task_due_at(rule, calendar, now), why)


def decide(fu: dict, case: dict | None, now: datetime, calendar: Calendar) -> Decision:
    """What a claimed, due follow-up does with the case as it is now."""
    if case is None:
        return Cancel("the case no longer exists")
    if case["status"] not in ("resolved", "closed"):
        return Cancel(f"the case is {case['status']} now")
    if followup_id(case) != fu["_id"]:  # reopened (by hand or by a new alert) and resolved again
        return Cancel("the case was reopened since; its new resolution has its own follow-up")
    if fu["mode"] == "automatic":
        return Send(now + timedelta(hours=fu["rule"]["link_valid_hours"]))
    return task_for(fu, case, now, calendar, f"follow-up by {fu['mode']} (rule {fu['rule']['name']})")


# answers ---------------------------------------------------------------------------------


def classify(scale: str, score: int) -> str:
    """``satisfied`` | ``passive`` | ``unhappy`` (see the module doc)."""
    low, high = SCALE_RANGES[scale]
    if not isinstance(score, int) or isinstance(score, bool) or not low <= score <= high:
        raise ValueError(f"score: {scale} answers are {low} to {high}")
    if scale == "csat":
        return "satisfied" if score >= 4 else "passive" if score == 3 else "unhappy"
    return "satisfied" if score >= 9 else "passive" if score >= 7 else "unhappy"


def answer_of(event: dict) -> tuple[str, int] | None:
    """(scale, score) of a follow-up answer event: its CSAT, else its NPS."""
    scores = event.get("scores") or {}
    for scale in ("csat", "nps"):
        if isinstance(scores.get(scale), int):
            return scale, scores[scale]
    return None


def answer_problems(event: dict) -> list[str]:
    """Why a feedback event on the follow-up key cannot be a survey answer (none: it can)."""
    problems = []
    if not event.get("case_id"):
        problems.append("case_id: required on a follow-up answer")
    if not isinstance((event.get("attributes") or {}).get("followup_nonce"), str):
        problems.append("attributes.followup_nonce: required on a follow-up answer")
    if answer_of(event) is None:
        problems.append("scores: a follow-up answer carries scores.csat or scores.nps")
    return problems


def on_time(fu: dict, done_at: datetime) -> bool:
    return done_at.timestamp() <= fu["deadline_epoch"]


def presented(fu: dict, now: datetime) -> dict:
    """A follow-up as readers get it: internals dropped, and for its task ``on_time``
    (done by the deadline; None while open) and ``overdue`` (open past its due time),
    derived on read rather than stored."""
    out = {k: v for k, v in fu.items() if k not in ("nonce", "lease_until", "claimed_by", "rule")}
    task = fu.get("task")
    if task:
        done_at = task.get("done_at")
        out["task"] = {**task, "on_time": None if done_at is None else on_time(fu, done_at)}
        out["overdue"] = fu["state"] == "task" and task["due_epoch"] < now.timestamp()
    return out
