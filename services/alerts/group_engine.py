"""Group rules in the engine: a batch of events counted in their groups' buckets (one
state call for the batch) and judged one by one in order (services/alerts/group_rules.py).

Each event a group rule's ``when`` accepts, and that has every ``group.by`` field,
moves its group's counters in the bucket of its event time, once (a marker per
event). The state returns the totals of the buckets the batch's judgements read,
as they are after the batch's writes; each event is judged on them minus what the
batch's later events added, so it sees its own hit and those before it, as if the
events had come one by one. A true judgement on an event that counted is a match,
keyed by the group (``rule|group|path=value``): the first one raises the group's
alert and the rest attach to it while it is open (the dedup claim, atomic across
replicas). A false judgement ends the group's episode: its open claim is released
(``end_group_episodes``), so the next time the condition holds a new alert rises.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from services.alerts import group_rules as g
from services.alerts.evaluate import Facts, evaluate
from services.alerts.index import RuleIndex


@dataclass
class _Judged:
    """One (event, group rule) to judge once the batch is counted."""

    position: int  # the event's place in the batch
    rule: dict
    facts: Facts
    at: float
    key: dict[str, str]
    spec_key: str
    trace: list[dict]
    hit: g.GroupHit | None

    def bucket(self, index: int) -> str:
        return g.bucket_id(self.rule["id"], self.spec_key, self.key, index)


def _where(condition: dict, facts: Facts) -> bool:
    return evaluate(condition, facts)[0]


def _plan(index: RuleIndex, position: int, facts: Facts, at: float, event_key: str) -> list[_Judged]:
    """The group rules that accept the event, each with the hit it adds (if any)."""
    planned = []
    for rule in index.grouped.candidates(facts):
        accepted, trace = evaluate(rule["when"], facts)
        spec = rule["group"]
        key = g.group_key(spec, facts) if accepted else None
        if key is None:
            continue
        spec_key = index.window_key(rule["id"], spec)
        fields = g.increments(spec, facts, _where)
        hit = None
        if fields is not None:
            size = g.step(spec)
            start = int(at // size)
            hit = g.GroupHit(
                bucket=g.bucket_id(rule["id"], spec_key, key, start),
                key=event_key,
                fields=fields,
                expires=(start + 1) * size + g.lookback(spec),
                meta={"rule": rule["id"], "group": g.key_text(key), "start": start * size},
            )
        planned.append(_Judged(position, rule, facts, at, key, spec_key, trace, hit))
    return planned


@dataclass
class Judgement:
    """A group rule judged on one event: the result and what the window held."""

    judged: _Judged
    result: bool
    entry: dict  # the trace entry of the group condition
    observed: dict


def judge_batch(state, index: RuleIndex, batch: list[tuple[int, Facts, float, str]]) -> list[Judgement]:
    """Count a batch's events (position, facts, event time, event key) in their groups
    (one ``count_group_hits``) and judge each in order on the counters as of its own hit."""
    if not index.grouped.items:
        return []
    planned = [j for position, facts, at, key in batch for j in _plan(index, position, facts, at, key)]
    if not planned:
        return []
    hits = list({(j.hit.bucket, j.hit.key): j.hit for j in planned if j.hit is not None}.values())
    read = sorted(
        {
            j.bucket(b)
            for j in planned
            for _, buckets in g.read_buckets(j.rule["group"], j.at)
            for b in buckets
        }
    )
    totals = state.count_group_hits(hits, read)
    later: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for hit in hits:  # the batch's own additions, taken back hit by hit as the judging moves on
        for name, value in hit.fields.items():
            later[hit.bucket][name] += value
    counted: set[tuple[str, str]] = set()
    judgements = []
    for j in planned:
        if j.hit is not None and (j.hit.bucket, j.hit.key) not in counted:
            counted.add((j.hit.bucket, j.hit.key))
            for name, value in j.hit.fields.items():
                later[j.hit.bucket][name] -= value
        windows = []
        for _, buckets in g.read_buckets(j.rule["group"], j.at):
            summed: dict[str, float] = defaultdict(float)
            for b in buckets:
                bucket = j.bucket(b)
                for name, value in (totals.get(bucket) or {}).items():
                    summed[name] += value - later[bucket].get(name, 0)
            windows.append(summed)
        result, observed = g.judge(j.rule["group"], windows)
        kind, body = g.condition_of(j.rule["group"])
        entry = {
            "path": "group",
            "group_condition": kind,
            "value": body,
            "actual": observed,
            "result": result,
        }
        if result and j.hit is None:
            entry["counted"] = False  # the event did not move the counters: it tips nothing
        judgements.append(Judgement(j, result, entry, observed))
    return judgements


def group_matches(state, index: RuleIndex, batch: list[tuple[int, Facts, float, str]]) -> tuple[list, list]:
    """``judge_batch``: the matches as (position, rule, facts, trace, event time, group
    info) and the episodes to end as (dedup key, event time)."""
    matches: list = []
    ends: dict[str, float] = {}
    for v in judge_batch(state, index, batch):
        j = v.judged
        dkey = g.dedup_key(j.rule["id"], j.key)
        if v.result and j.hit is not None:
            ends.pop(dkey, None)
            info = {"key": j.key, "observed": v.observed, "dedup_key": dkey}
            matches.append((j.position, j.rule, j.facts, [*j.trace, v.entry], j.at, info))
        elif not v.result:
            ends[dkey] = j.at
    return matches, list(ends.items())


def explain_group_rule(state, rule: dict, facts: Facts, at: float, key: str) -> tuple[bool, list[dict]]:
    """Would the group rule match this event, and why: its ``when`` and, when the event
    belongs to a group, the group condition as of the event (``state`` as it is)."""
    index = RuleIndex([{**rule, "enabled": True, "deleted": None}])
    accepted, trace = evaluate(rule["when"], facts)
    judged = judge_batch(state, index, [(0, facts, at, key)])
    if not judged:  # not in any group of the rule (a by field missing), or not accepted
        return False, trace
    v = judged[0]
    return v.result and v.judged.hit is not None and accepted, [*trace, v.entry]
