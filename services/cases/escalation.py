"""Multi-level escalation as data: policies, snapshots, due steps. Pure code.

A policy gives each alert level an ordered chain of steps, each ``after_minutes``
from the start of a round (the case opening, or the previous round's end)::

    P1:
      stop_on: acknowledge          # or resolve
      repeat: 2                     # run the whole chain up to 1 + 2 times
      steps:
        - {after_minutes: 15, notify: owner}
        - {after_minutes: 30, notify: team_lead}
        - {after_minutes: 60, notify: department_head}
        - {after_minutes: 90, notify: on_call, group: duty-managers}

**Design.** A case snapshots its level's chain when it opens (an edited policy
never changes an escalation in flight; ``apply_to_open_cases`` re-snapshots
explicitly). Each step of the current round is a document in ``escalation_steps``
with its due time as an epoch number; the service's ``@timer`` sweep claims due
steps one at a time with ``find_one_and_update`` (pending → claimed, with a lease),
fires them, and marks them fired. A step claimed by a worker that died is claimed
again once its lease expires, and the notification id is the step's id, which
notify deduplicates, so a restart loses no step and two replicas never deliver
one twice. The last step of a round schedules the next round until ``repeat`` is
used up. Acknowledging (or resolving, per ``stop_on``) cancels pending steps,
and the sweep checks the case's current state before firing (the message shows
the case as it is now). Outside the case's business hours a step waits for the
next working minute, except on P1.

**Deciding a due step** (``decide_step``): what the sweep does with a claimed step
is a small result record, ``Cancel``, ``Defer(until)``, ``Wait(until)``,
``Skip`` or ``Fire(target)``, the last two with the next round to schedule;
``sweeps.fire_step`` applies it (store writes, the notification).

**Why not APScheduler.** The issue suggests APScheduler where it fits. Here the
schedule *is* the ``escalation_steps`` collection: deadlines are durable in
MongoDB from the moment a case opens, and ``find_one_and_update`` (pending →
claimed with a lease) is the only thing that decides who fires a step, so a
restart loses nothing and two replicas never fire the same step. APScheduler's
default memory job store forgets every job on restart, and its MongoDB job
store would be a second copy of the same deadlines that must be kept in step
with cases (cancel on acknowledge, replace on ``apply_to_open_cases``) while
each replica runs its own scheduler over it, which is exactly the double-firing
problem the atomic claim solves. What remains is timing, which one Nameko
``@timer`` sweep (``ESCALATION_SWEEP_SECONDS``) provides; it also sends the
pre-breach SLA warnings and, at start and hourly, recounts agent loads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from marshmallow import ValidationError, fields, validate, validates_schema

from contracts.messages import LEVELS
from services.cases import sla
from services.common.validation import StrictSchema, load_valid

TARGETS = ("owner", "team_lead", "department_head", "on_call")
STOP_ON = ("acknowledge", "resolve")


class StepSchema(StrictSchema):
    after_minutes = fields.Float(required=True, validate=validate.Range(min=0, max=525_600))
    notify = fields.String(required=True, validate=validate.OneOf(TARGETS))
    group = fields.String(load_default=None, validate=validate.Length(min=1, max=128))


class ChainSchema(StrictSchema):
    stop_on = fields.String(load_default="acknowledge", validate=validate.OneOf(STOP_ON))
    repeat = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10))
    steps = fields.List(fields.Nested(StepSchema), required=True, validate=validate.Length(min=1, max=20))


class EscalationPolicySchema(StrictSchema):
    id = fields.String(load_default="default", validate=validate.Length(min=1, max=64))
    department_head = fields.String(load_default=None, validate=validate.Length(min=1, max=128))
    levels = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LEVELS)), values=fields.Nested(ChainSchema)
    )

    @validates_schema(skip_on_field_errors=True)
    def _reachable(self, data, **_):
        errors: dict[str, list[str]] = {}
        for level, chain in (data.get("levels") or {}).items():
            steps = chain["steps"]
            for i, step in enumerate(steps):
                where = f"levels.{level}.steps.{i}"
                if i and step["after_minutes"] < steps[i - 1]["after_minutes"]:
                    errors[f"{where}.after_minutes"] = [
                        f"can never be reached in order: {step['after_minutes']} min comes before "
                        f"step {i - 1} at {steps[i - 1]['after_minutes']} min"
                    ]
                if step["notify"] == "on_call" and not step.get("group"):
                    errors[f"{where}.group"] = ["on_call needs the group to notify"]
                if step["notify"] == "department_head" and not data.get("department_head"):
                    errors[f"{where}.notify"] = ["no department_head is configured"]
            if chain["repeat"] and steps[-1]["after_minutes"] == 0:
                errors[f"levels.{level}.repeat"] = ["a repeating chain needs its last step after 0 minutes"]
        if errors:
            raise ValidationError(errors)


def load_policy(document) -> dict:
    return load_valid(
        EscalationPolicySchema,
        document,
        shape="an escalation policy is {department_head, levels: {P1: {steps: [...]}}}",
    )


def snapshot(policy: dict, version: int, level: str) -> dict | None:
    """What a case keeps of the policy (None: its level does not escalate)."""
    chain = (policy.get("levels") or {}).get(level)
    if not chain:
        return None
    return {
        "policy_id": policy["id"],
        "version": version,
        "department_head": policy.get("department_head"),
        **chain,
    }


def round_steps(tag: str, case_id: str, snap: dict, round_no: int, start_epoch: float) -> list[dict]:
    """The due-step documents of one round, due ``after_minutes`` after ``start_epoch``.

    ``tag`` names the escalation run (case and reopen count); with the policy
    version, round and index it makes each step's id, and so its notification id.
    """
    steps = snap["steps"]
    return [
        {
            "_id": step_id(tag, snap, round_no, i),
            "case_id": case_id,
            "round": round_no,
            "index": i,
            "last_of_round": i == len(steps) - 1,
            "step": step,
            "due_epoch": start_epoch + step["after_minutes"] * 60,
            "state": "pending",
            "lease_until": 0.0,
            "claimed_by": "",
        }
        for i, step in enumerate(steps)
    ]


def step_id(tag: str, snap: dict, round_no: int, index: int) -> str:
    return f"{tag}:esc:v{snap['version']}:r{round_no}:s{index}"


def run_tag(case_id: str, reopen_count: int) -> str:
    """The escalation run of a case's opening (0) or of its n-th reopen."""
    return f"{case_id}:o{reopen_count}"


def step_ids(case_id: str, snap: dict, runs: int) -> list[str]:
    """Every step id ``snap`` can schedule for a case over its first ``runs`` runs."""
    return [
        step_id(run_tag(case_id, run), snap, round_no, index)
        for run in range(runs)
        for round_no in range(snap["repeat"] + 1)
        for index in range(len(snap["steps"]))
    ]


def stops(snap: dict | None, action: str) -> bool:
    """Does ``action`` end the case's escalation?"""
    if not snap:
        return False
    if action in ("resolve", "close"):
        return True
    return snap["stop_on"] == "acknowledge" and action in ("acknowledge", "start")


def still_escalating(case: dict) -> bool:
    """Checked when a step is about to fire: the case as it is now."""
    snap = case.get("escalation")
    if not snap or case["status"] in ("resolved", "closed", "verified"):
        return False
    return not (snap["stop_on"] == "acknowledge" and case.get("acknowledged"))


def recipient(step: dict, case: dict, snap: dict, team_lead: str | None) -> dict | None:
    """Whom a step notifies; None when the target cannot be resolved (audited)."""
    target = step["notify"]
    if target == "owner":
        return case.get("assignee")
    if target == "team_lead":
        return {"kind": "person", "id": team_lead} if team_lead else None
    if target == "department_head":
        return {"kind": "person", "id": snap["department_head"]}
    return {"kind": "team", "id": step["group"]}


def waits_for_owner(step: dict, case: dict) -> bool:
    """A step whose target is found through the case's owner (the owner, the owner's
    team lead) while the case has none yet: it waits instead of being skipped."""
    return step["notify"] in ("owner", "team_lead") and case.get("assignee") is None


@dataclass(frozen=True)
class Cancel:
    """The case is gone or no longer escalates: the step is cancelled."""


@dataclass(frozen=True)
class Defer:
    """Outside the case's business hours: the step is due again when they open."""

    until: float  # epoch


@dataclass(frozen=True)
class Wait:
    """The step's target is found through an owner the case does not have yet (its
    assignment is under way, or it waits in the queue): audited, due again at ``until``
    instead of being skipped for good."""

    until: float  # epoch
    why: str


@dataclass(frozen=True)
class Skip:
    """Nobody to notify (audited); the chain goes on."""

    why: str
    next_round: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Fire:
    """Notify ``target``."""

    target: dict
    why: str
    next_round: list[dict] = field(default_factory=list)


Decision = Cancel | Defer | Wait | Skip | Fire


def decide_step(
    step: dict,
    case: dict | None,
    now: datetime,
    *,
    team_lead: Callable[[dict | None], str | None],
    retry_s: float,
) -> Decision:
    """What to do with a claimed due ``step`` of ``case`` (as it is now; None: gone).

    ``team_lead(owner)``: the lead of the team of the case's owner (asked once the step
    is to be resolved to a recipient); ``retry_s``: how long a step waiting for an
    owner waits.
    A step that is skipped or fires and ends its round brings the next round along
    (``next_round``) while the chain repeats."""
    if case is None or not still_escalating(case):
        return Cancel()
    opens = sla.business_hours(case)  # reminders wait for business hours, except P1
    if opens is not None and (at := opens(now)) > now:
        return Defer(at.timestamp())
    snap = case["escalation"]
    target = recipient(step["step"], case, snap, team_lead(case["assignee"]))
    what = f"round {step['round'] + 1}, step {step['index'] + 1}: {step['step']['notify']}"
    if target is None and waits_for_owner(step["step"], case):
        return Wait(now.timestamp() + retry_s, f"{what}: waiting for an owner")
    following = next_round(step, case["_id"], snap, now)
    if target is None:
        return Skip(f"{what}: nobody to notify", following)
    return Fire(target, f"{what} → {target['kind']} {target['id']}", following)


def next_round(step: dict, case_id: str, snap: dict, now: datetime) -> list[dict]:
    """The steps of the round after ``step``'s, starting ``now``, when ``step`` is the
    last of its round and the chain repeats; else none."""
    if not (step["last_of_round"] and step["round"] < snap["repeat"]):
        return []
    tag = step["_id"].split(":esc:")[0]
    return round_steps(tag, case_id, snap, step["round"] + 1, now.timestamp())


def plan(snap: dict | None, case: dict, start: datetime, team_lead: str | None, opens=None) -> list[dict]:
    """A dry run of a case's escalation: every step of every round, with its due
    time, when it would fire (``opens(due)``: the next working minute, None on P1
    or without a calendar) and whom it would notify, assuming nobody acknowledges.
    A later round starts when the previous round's last step fires, as in the sweep.
    """
    if not snap:
        return []
    out = []
    round_start = start.timestamp()
    for round_no in range(snap["repeat"] + 1):
        fires = round_start
        for step in round_steps("plan", case["_id"], snap, round_no, round_start):
            due = datetime.fromtimestamp(step["due_epoch"], UTC)
            fire = opens(due) if opens else due
            fires = fire.timestamp()
            target = recipient(step["step"], case, snap, team_lead)
            out.append(
                {
                    "round": round_no + 1,
                    "step": step["index"] + 1,
                    "notify": step["step"]["notify"],
                    "after_minutes": step["step"]["after_minutes"],
                    "due": due,
                    "fires_at": fire,
                    "targets": [target] if target else [],
                    "note": None if target else "nobody to notify: the step is skipped",
                }
            )
        round_start = fires
    return out


def scheduled(step: dict) -> dict:
    """A stored due step as a dry run shows it."""
    return {
        "round": step["round"] + 1,
        "step": step["index"] + 1,
        "notify": step["step"]["notify"],
        "after_minutes": step["step"]["after_minutes"],
        "due": datetime.fromtimestamp(step["due_epoch"], UTC),
        "state": step["state"],
    }
