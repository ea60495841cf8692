"""The alert engine: one event through every rule, with windows, dedup and throttle.

Pure logic over a ``State`` (the running state rules need between events):
``MongoState`` (services/alerts/state_store.py) in the service, ``MemoryState``
(services/alerts/memory.py) for dry runs and tests, ``PreviewState`` to explain
an event against stored state without writing. Every State write is keyed by
the event, so processing an event twice (a redelivery, or a retry after a crash
between any two steps) changes nothing the second time.

Per event:

1. note the customer (for ``is_first_contact``);
2. for every enabled rule's window conditions, record the event if it counts
   (a ``count`` window's ``where`` matches, or the event has the watched score);
   this happens before evaluation so that short-circuiting never skips counting,
   and the write returns the window as of this event's hit (one atomic step), so
   concurrent events of one customer complete a window once, as if in series;
3. evaluate each candidate rule (the rule index, services/alerts/index.py, skips
   rules that cannot match this event) that is inside its active hours at the
   event's time; window conditions use that window (or read the recorded state,
   for windows the event does not count) by event time;
4. for each match: the dedup key's open alert absorbs it (``attached``), or the
   rule's throttle refuses a new alert (``suppressed``), or a new alert is
   ``raised`` (only these are announced as ``alert_raised``).

Group rules (services/alerts/group_rules.py) are matched per batch by
``group_matches`` (services/alerts/group_engine.py): one state call counts the
batch's events in their groups' buckets, each event is judged as of its own hit, and
the matches join the customer rules' ones in event order; the groups that recovered
have their dedup key released after settling (``end_group_episodes``).

A batch (``process_many``) does steps 1–3 for every event, then settles all the
matches in order (``Settlement``) with O(1) writes for the new alerts: the dedup keys
the batch meets are claimed in one insert, and the alerts it raises are stored in
one insert at the end, holding the repeats the batch attached to them. A key that
exists already (an earlier delivery, another alert) takes the one-at-a-time path
(``claim_dedup``), and the batch's own open claims answer its later matches, so
the outcome is the one of processing the matches one at a time.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from services.alerts.conditions import parse_duration, window_key
from services.alerts.evaluate import MISSING, Facts, alert_id_for, evaluate, event_summary, resolve
from services.alerts.group_engine import group_matches
from services.alerts.group_rules import GroupHit
from services.alerts.index import RuleIndex
from services.alerts.rules import is_active
from services.alerts.storm import bucket_of, note_refused, storm_alert, storm_id
from textanalysis.text import Analyzer


def event_key(event: dict) -> str:
    return f"{event['source']}\x1f{event['event_id']}"


def epoch(moment: datetime) -> float:
    return moment.timestamp()


# window key -> the window's hits (event key -> event time) as the event's own
# record_hit returned them
Counted = dict[str, dict[str, float]]
# a throttled match: (rule, event key, the alert refused, throttle period, the alert it
# attaches to: its storm alert, or None for the period's last slot holder)
Refused = tuple[str, str, dict, str, str | None]


class State(Protocol):
    """Running state the engine keeps between events (see MongoState / MemoryState)."""

    def register_customer(self, customer_id: str, key: str) -> bool: ...

    def register_customers(self, pairs: list[tuple[str, str]]) -> list[bool]:
        """``register_customer`` for each (customer, event key) of a batch, in order."""
        ...

    def first_event(self, customer_id: str) -> str | None: ...

    def record_hit(self, window: str, customer_id: str, key: str, at: float, keep: int) -> dict[str, float]:
        """Count the event in the window; every live hit of the window (event key ->
        event time), this one included, read in the same atomic step as the write:
        of concurrent writers each sees its own hit and those written before it,
        never a later one, so exactly one sees the window reach its threshold."""
        ...

    def hit_times(self, window: str, customer_id: str, since: float, until: float) -> dict[str, float]: ...

    def record_score(
        self, customer_id: str, score: str, key: str, value: float, at: float, keep: int
    ) -> None: ...

    def score_history(
        self, customer_id: str, score: str, since: float, until: float, exclude: str
    ) -> list[float]: ...

    def claim_new_dedups(self, claims: list[tuple[str, str, float, float]]) -> list[bool]:
        """Claim each (dedup key, alert, at, until) whose key has no claim yet (one write
        for the lot); False where the key has one (open, lapsed or released), which
        ``claim_dedup`` then settles."""
        ...

    def claim_dedup(self, dedup_key: str, alert_id: str, at: float, until: float) -> str: ...

    def release_dedup(self, dedup_key: str, alert_id: str) -> None: ...

    def take_throttle_slot(self, bucket: str, max_alerts: int, alert_id: str) -> bool: ...

    def suppress_matches(self, matches: list[Refused]) -> None:
        """Keep a batch's throttled matches (rule, event key, the alert it would have
        raised, throttle period, the alert it attaches to), each once: a customer rule's
        to its period's storm alert, a group rule's (``None`` here) to the alert that
        last took a slot of the period. That alert's ``suppressed`` count moves once per
        match (a marker set in the same update), whichever of the match and the alert
        is stored first."""
        ...

    def save_alerts(self, alerts: list[tuple[dict, dict[str, float]]]) -> list[bool]:
        """Store new alerts (one write for the lot), each with the events it holds
        already (event key -> event time) as its hits; False for those that exist."""
        ...

    def attach(self, alert_id: str, key: str, event: dict, at: float) -> None: ...

    def add_deadline(self, rule_id: str, event: dict, at: float, due: float) -> None: ...

    def respond(self, customer_id: str, at: float) -> int: ...

    def claim_due(self, now: float, limit: int) -> list[dict]: ...

    def finish_deadline(self, deadline_id: str) -> None: ...

    def count_group_hits(self, hits: list[GroupHit], read: list[str]) -> dict[str, dict[str, float]]:
        """Count each hit once in its group bucket (one write for the batch: atomic
        increments guarded by the event's marker) and return the counters of the
        ``read`` buckets as they are after it."""
        ...

    def end_group_episodes(self, ends: list[tuple[str, float]]) -> None:
        """Release each group dedup key (key, event time) still open at that time and
        opened no later: the group recovered, its next match raises a new alert."""
        ...


def densest(times: list[float], at: float, within: int) -> int:
    """Most events in any window of length ``within`` that contains ``at``.

    By event time and independent of arrival order: an older event that arrives
    late still completes the set it belongs to ("3 complaints in 7 days"). Used
    when the event itself is counted; an event the window does not count sees
    only the window that ends with it.
    """
    ends = [at] + [t for t in times if at < t < at + within]
    return max(sum(1 for t in times if end - within < t <= end) for end in ends)


def dedup_key(rule: dict, event: dict, facts: Facts) -> str:
    parts = [rule["id"], f"customer.id={event['customer']['id']}"]
    for name in (rule.get("dedup") or {}).get("by", []):
        value = facts.get(name) if name in ("sentiment", "category") else resolve(event, name)
        parts.append(f"{name}={'' if value is None or value is MISSING else value}")
    return "|".join(parts)


@dataclass
class Outcome:
    rule_id: str
    outcome: str  # raised | attached | suppressed | storm (Engine.storms, storm.py)
    alert_id: str
    dedup_key: str
    alert: dict | None = None
    trace: list[dict] = field(default_factory=list)
    # raised: True when this call stored the alert (``alert`` is what was stored);
    # False when it existed already (a redelivered event)
    fresh: bool = False


@dataclass
class Match:
    """A rule that matched an event, waiting to be deduplicated and throttled."""

    rule: dict
    facts: Facts
    trace: list[dict]
    at: float  # event time, epoch seconds
    # a group rule's match: the group's key, what was observed, its dedup key
    group: dict | None = None


@dataclass
class _Unsaved:
    """An alert a batch raised, not stored yet: the repeats the batch attaches to it
    are counted in the document (as ``attach`` would count them once it is stored),
    and kept in order to be attached for real if it turns out to exist already."""

    alert: dict
    hits: dict[str, float]  # event key -> event time
    events: list[tuple[str, dict, float]]  # (event key, event, at), the raising one first
    outcome: Outcome  # the match that raised it: told whether the store took it (``fresh``)

    def absorb(self, key: str, event: dict, at: float) -> None:
        self.events.append((key, event, at))
        if key in self.hits:
            return
        self.hits[key] = at
        self.alert["count"] += 1
        if self.alert["last_seen_ts"] < at:
            self.alert["last_seen_ts"] = at
            self.alert["last_seen"] = {
                "at": event["occurred_at"],
                "event_id": event["event_id"],
                "source": event["source"],
            }


@dataclass
class Keyed:
    """A match with the keys that settle it."""

    match: Match
    dedup_key: str
    alert_id: str  # the alert it raises if it owns the dedup key
    event_key: str
    cooldown: int  # seconds the alert stays open from the match's event time
    claimed: bool = False  # its key was claimed for it by the batch's first write

    @classmethod
    def of(cls, m: Match) -> Keyed:
        event = m.facts.event
        cooldown = parse_duration((m.rule.get("dedup") or {}).get("cooldown", "24h"))
        return cls(
            m,
            m.group["dedup_key"] if m.group else dedup_key(m.rule, event, m.facts),
            alert_id_for(m.rule["id"], event),
            event_key(event),
            cooldown,
        )

    @property
    def until(self) -> float:
        return self.match.at + self.cooldown

    def outcome(self, outcome: str, alert_id: str, alert: dict | None = None) -> Outcome:
        return Outcome(
            self.match.rule["id"], outcome, alert_id, self.dedup_key, alert=alert, trace=self.match.trace
        )


class Settlement:
    """Dedup and throttle of matches in order (``Engine._settle``), with the outcome of
    settling them one at a time, each:

    * claims its dedup key (atomic: one winner), or finds the key's open alert and
      attaches to it;
    * takes a slot of its rule's throttle, or is suppressed (its claim released);
    * raises a new alert (stored with its raising event as the first hit).

    The writes are grouped: the keys met first are claimed in one write
    (``claim_new_keys``), and the raised alerts are stored in one write at the end
    (``store_raised``), each with the later matches attached to it already. A key
    that has a claim already is settled by ``claim_dedup``; a key claimed here
    answers its later matches while it is open at their event time (no write: only a
    later event time can take it over, or the release of a suppressed alert, which
    is done here). An alert that turns out to exist (a redelivery, or a crash after
    the claim) gets its events attached as ``attach`` does.
    """

    def __init__(self, state: State, now: datetime):
        self.state, self.now = state, now
        # dedup key -> (alert, open until) of the claims made here and still held
        self.held: dict[str, tuple[str, float]] = {}
        self.unsaved: dict[str, _Unsaved] = {}  # alert id -> the alert raised here
        self.outcomes: list[Outcome] = []
        # throttled matches, kept after the new alerts are stored (they attach to them)
        self.suppressed: list[Refused] = []
        # throttle period -> its storm alert, met here (stored with the raised alerts)
        self.storms: dict[str, Outcome] = {}

    def claim_new_keys(self, keyed: list[Keyed]) -> None:
        """Claim the key of each dedup key's first match in one write; the claims
        that landed are held (a key claimed before is left to ``owner``)."""
        first: dict[str, Keyed] = {}
        for k in keyed:
            first.setdefault(k.dedup_key, k)
        if not first:
            return
        claims = [(k.dedup_key, k.alert_id, k.match.at, k.until) for k in first.values()]
        for k, created in zip(first.values(), self.state.claim_new_dedups(claims), strict=True):
            if created:
                k.claimed = True
                self.held[k.dedup_key] = (k.alert_id, k.until)

    def settle(self, k: Keyed) -> None:
        """Attach the match to its key's open alert, or suppress it, or raise its alert."""
        owner = self.owner(k)
        if owner != k.alert_id:
            self.attach(owner, k)
            self.outcomes.append(k.outcome("attached", owner))
            return
        m = k.match
        alert = build_alert(m.rule, m.facts, m.trace, self.now, k.dedup_key, k.cooldown, m.group)
        if self.throttled(k, alert):
            self.outcomes.append(k.outcome("suppressed", k.alert_id))
        else:
            self.raise_alert(k, alert)

    def owner(self, k: Keyed) -> str:
        """The alert that owns the match's dedup key at its event time."""
        if k.claimed:
            return k.alert_id
        held = self.held.get(k.dedup_key)
        if held is not None and held[1] > k.match.at:
            return held[0]
        # not held from here on: the key's stored claim may predate this call
        owner = self.state.claim_dedup(k.dedup_key, k.alert_id, k.match.at, k.until)
        self.held.pop(k.dedup_key, None)
        return owner

    def throttled(self, k: Keyed, alert: dict) -> bool:
        """True when the rule's throttle refuses the new alert: the match is recorded
        as suppressed, attached to its period's storm alert (raised with the batch's
        new alerts; a group rule's to the period's last slot holder), and its dedup
        key released for the next match to try again."""
        rule = k.match.rule
        throttle = rule.get("throttle")
        if not throttle:
            return False
        bucket = bucket_of(rule, k.match.at)
        if self.state.take_throttle_slot(bucket, throttle["max_alerts"], k.alert_id):
            return False
        holder = None
        if k.match.group is None:  # a customer rule storms; a group rule's alerts are incidents
            self.storm(k, bucket)
            holder = storm_id(bucket)
        self.suppressed.append((rule["id"], k.event_key, alert, bucket, holder))
        self.state.release_dedup(k.dedup_key, k.alert_id)
        self.held.pop(k.dedup_key, None)
        return True

    def storm(self, k: Keyed, bucket: str) -> None:
        """The period's storm alert, raised by its first refused match met here."""
        met = self.storms.get(bucket)
        if met is not None:
            assert met.alert is not None
            note_refused(met.alert)
            return
        alert = storm_alert(k.match.rule, k.match.facts.event, k.event_key, bucket, self.now)
        note_refused(alert)
        self.storms[bucket] = Outcome(
            k.match.rule["id"],
            "storm",
            alert["_id"],
            alert["dedup"]["key"],
            alert=alert,
            trace=alert["trace"],
        )

    def raise_alert(self, k: Keyed, alert: dict) -> None:
        """Hold the new alert to be stored by ``store_raised``; it holds its raising
        event already (count 1, last seen, the hit)."""
        outcome = k.outcome("raised", k.alert_id, alert)
        event, at = k.match.facts.event, k.match.at
        if k.alert_id in self.unsaved:  # the same event twice: stored once, counted once
            self.unsaved[k.alert_id].absorb(k.event_key, event, at)
        else:
            self.unsaved[k.alert_id] = _Unsaved(
                dict(alert), {k.event_key: at}, [(k.event_key, event, at)], outcome
            )
        self.outcomes.append(outcome)

    def attach(self, alert_id: str, k: Keyed) -> None:
        """Attach the match to an open alert: in the document when it was raised here
        and is not stored yet, else in the store."""
        event, at = k.match.facts.event, k.match.at
        if alert_id in self.unsaved:
            self.unsaved[alert_id].absorb(k.event_key, event, at)
        else:
            self.state.attach(alert_id, k.event_key, event, at)

    def store_raised(self) -> None:
        """Store the alerts raised here in one write; one that existed already gets its
        events attached (each once). Each raising outcome learns whether it stored its alert."""
        storms = list(self.storms.values())
        if not self.unsaved and not storms:
            return
        docs = [(u.alert, u.hits) for u in self.unsaved.values()]
        stored = self.state.save_alerts(docs + [(s.alert, {}) for s in storms if s.alert is not None])
        for (alert_id, u), new in zip(self.unsaved.items(), stored, strict=False):
            u.outcome.fresh = new
            if not new:  # it existed: count its events there (each once)
                for key, event, at in u.events:
                    self.state.attach(alert_id, key, event, at)
        for outcome, new in zip(storms, stored[len(docs) :], strict=True):
            outcome.fresh = new  # the one insert that landed across replicas announces it


class Engine:
    """Evaluates events against rules over a State; ``now`` is explicit."""

    def __init__(self, state: State, analyzer: Analyzer | None = None):
        self.state = state
        self.index: RuleIndex | None = None
        # the storm alerts (storm.py) the last settling met, stored or found stored
        self.storms: list[Outcome] = []
        # the text analysis (the replica's live lexicon); a rule list is indexed with it
        # and a given RuleIndex brings its own, so keywords and events agree
        self.analyzer = analyzer

    def _index(self, rules: list[dict] | RuleIndex) -> RuleIndex:
        return rules if isinstance(rules, RuleIndex) else RuleIndex(rules, analyzer=self.analyzer)

    def _window_key(self, rule_id: str, spec: dict) -> str:
        if self.index is not None:
            return self.index.window_key(rule_id, spec)
        return window_key(rule_id, spec)

    # windows ----------------------------------------------------------------

    def _record_windows(self, index: RuleIndex, facts: Facts, at: float) -> Counted:
        """Record the event in the windows that count it; the windows it counted in,
        as its own writes returned them (one engine may process several events at once,
        so they travel with the call, not on the engine)."""
        event = facts.event
        customer, key = event["customer"]["id"], event_key(event)
        counted: Counted = {}
        for rule, spec in index.waiting.candidates(facts):
            body = spec["no_response"]
            if evaluate(body["after"], facts)[0]:
                due = at + parse_duration(body["within"])
                self.state.add_deadline(rule["id"], event, at, due)
        for rule, spec in index.counted.candidates(facts):
            body = spec["count"]
            if evaluate(body["where"], facts)[0]:
                keep = parse_duration(body["within"])
                window = self._window_key(rule["id"], spec)
                counted[window] = self.state.record_hit(window, customer, key, at, keep)
        for score, keep in index.scores.items():
            value = (event.get("scores") or {}).get(score)
            if value is not None:
                self.state.record_score(customer, score, key, value, at, keep)
        return counted

    def _window_check(self, rule: dict, facts: Facts, at: float, counted: Counted):
        event = facts.event
        customer = event["customer"]["id"]

        def check(path: str, spec: dict) -> tuple[bool, dict]:
            if "no_response" in spec:
                # Never true on an event: the timer (fire_due) raises it later.
                due = at + parse_duration(spec["no_response"]["within"])
                started = evaluate(spec["no_response"]["after"], facts)[0]
                return False, {"waiting": started, "due": _iso(due) if started else None}
            if "count" in spec:
                body = spec["count"]
                within = parse_duration(body["within"])
                window = self._window_key(rule["id"], spec)
                since, until = at - within, at + within
                if window in counted:  # as this event's own hit returned it
                    times = {k: t for k, t in counted[window].items() if since < t <= until}
                else:
                    times = self.state.hit_times(window, customer, since, until)
                if event_key(event) in times:  # this event counts: any window holding it
                    n = densest(list(times.values()), at, within)
                else:  # it does not: the window that ends with it
                    n = sum(1 for t in times.values() if at - within < t <= at)
                return n >= body["at_least"], {
                    "count": n,
                    "at_least": body["at_least"],
                    "within": body["within"],
                }
            body = spec["score_drop"]
            current = (event.get("scores") or {}).get(body["score"])
            seen: dict[str, Any] = {"score": body["score"], "current": current, "within": body["within"]}
            if current is None:
                return False, seen
            within = parse_duration(body["within"])
            history = self.state.score_history(customer, body["score"], at - within, at, event_key(event))
            seen["previous_events"] = len(history)
            if len(history) < body.get("min_events", 1):
                return False, seen
            average = sum(history) / len(history)
            seen["average"] = round(average, 2)
            seen["drop"] = round(average - current, 2)
            return average - current >= body["by"], seen

        return check

    # evaluation ----------------------------------------------------------------

    def facts(self, event: dict, registered: bool = False) -> Facts:
        """The event's facts; ``is_first_contact`` is read only if a rule asks."""
        customer, key = event["customer"]["id"], event_key(event)

        def first_contact() -> bool:
            return registered or self.state.first_event(customer) in (None, key)

        analyzer = self.index.analyzer if self.index is not None else self.analyzer
        return Facts(event, first_contact=first_contact, analyzer=analyzer)

    def evaluate_rule(
        self, rule: dict, facts: Facts, counted: Counted | None = None
    ) -> tuple[bool, list[dict]]:
        """Evaluate one rule on the event; ``counted``: the windows the event was just
        recorded in (``_record_windows``), others are read from the state."""
        at = epoch(facts.event["occurred_at"])
        return evaluate(rule["when"], facts, windows=self._window_check(rule, facts, at, counted or {}))

    def process_many(self, rules: list[dict] | RuleIndex, events: list[dict], now: datetime) -> list[Outcome]:
        """``process`` for a batch of events in order: their customers are registered
        together (one write for the batch), and their matches settled together
        (``_settle``: one write for the claims, one for the new alerts)."""
        index = self.index = self._index(rules)
        pairs = [(event["customer"]["id"], event_key(event)) for event in events]
        flags = self.state.register_customers(pairs)
        return self._run(index, [self.facts(e, first) for e, first in zip(events, flags, strict=True)], now)

    def _run(self, index: RuleIndex, batch: list[Facts], now: datetime) -> list[Outcome]:
        """Match a batch's events (their customers registered) under the customer rules
        one by one and under the group rules together (``group_matches``: one state
        call), settle every match in event order, then end the episodes of the
        groups that recovered."""
        found: list[tuple[int, Match]] = []
        for position, facts in enumerate(batch):
            found += [(position, m) for m in self.match(index, facts.event, facts=facts, registered=True)]
        timed = [(p, f, epoch(f.event["occurred_at"]), event_key(f.event)) for p, f in enumerate(batch)]
        grouped, ends = group_matches(self.state, index, timed)
        for position, rule, facts, trace, at, info in grouped:
            found.append((position, Match(rule, facts, trace, at, group=info)))
        found.sort(key=lambda item: item[0])  # stable: a customer rule's match first
        outcomes = self._settle([m for _, m in found], now)
        if ends:
            self.state.end_group_episodes(ends)
        return outcomes

    def process(
        self,
        rules: list[dict] | RuleIndex,
        event: dict,
        now: datetime,
        facts: Facts | None = None,
        registered: bool | None = None,
    ) -> list[Outcome]:
        """Record, evaluate, dedup and throttle one event; the outcomes of matching rules.

        ``rules`` is a RuleIndex (built once per rule set: services/alerts/index.py)
        or a list of rules, indexed on the spot.
        """
        index = rules if isinstance(rules, RuleIndex) else RuleIndex(rules)
        if registered is None:
            registered = self.state.register_customer(event["customer"]["id"], event_key(event))
        return self._run(index, [facts or self.facts(event, registered)], now)

    def match(
        self,
        rules: list[dict] | RuleIndex,
        event: dict,
        facts: Facts | None = None,
        registered: bool | None = None,
    ) -> list[Match]:
        """Record the event (customer, windows) and evaluate it: the rules it matches.

        ``registered``: the answer of registering the event's customer, when the
        caller did it (``process_many``). Nothing here reads what settling writes
        (dedup, throttle, alerts), so a batch may match all its events first.
        """
        index = self.index = self._index(rules)
        # Every event registers its customer (one insert), asked or not; the fact
        # itself is derived only when a rule reads it.
        if registered is None:
            registered = self.state.register_customer(event["customer"]["id"], event_key(event))
        facts = facts or self.facts(event, registered)
        at = epoch(event["occurred_at"])
        counted = self._record_windows(index, facts, at)
        matches = []
        for rule in index.when.candidates(facts):
            if not is_active(rule, event["occurred_at"]):
                continue  # outside its active hours: counted in windows above, never fires
            matched, trace = self.evaluate_rule(rule, facts, counted)
            if matched:
                matches.append(Match(rule, facts, trace, at))
        return matches

    # timers: "no response within T" -------------------------------------------------

    def respond(self, customer_id: str, at: datetime) -> int:
        """Someone responded to this customer at ``at``: earlier surveys stop waiting."""
        return self.state.respond(customer_id, epoch(at))

    def fire_due(self, rules: list[dict] | RuleIndex, now: datetime, limit: int = 100) -> list[Outcome]:
        """Raise the no-response rules whose deadline passed without a response.

        Each deadline is claimed by one worker (a lease), settled through the
        same dedup and throttle as any match, then marked done; a crash in
        between leaves the lease to expire and the next run to finish it.
        """
        by_id = self._index(rules).by_id
        deadlines = self.state.claim_due(epoch(now), limit)
        matches = []
        for deadline in deadlines:
            rule = by_id.get(deadline["rule_id"])
            if rule is None:
                continue  # its rule was deleted since: nothing fires
            active = is_active(rule, deadline["event"]["occurred_at"])
            if active and "no_response" in rule["when"].get("window", {}):
                event = deadline["event"]
                trace = [
                    {
                        "path": "when",
                        "window": "no_response",
                        "value": rule["when"]["window"]["no_response"],
                        "actual": {"responded": False, "due": _iso(deadline["due"])},
                        "result": True,
                    }
                ]
                matches.append(Match(rule, self.facts(event), trace, epoch(event["occurred_at"])))
        outcomes = self._settle(matches, now)
        for deadline in deadlines:
            self.state.finish_deadline(deadline["_id"])
        return outcomes

    # dedup and throttle -----------------------------------------------------------

    def _settle(self, matches: list[Match], now: datetime) -> list[Outcome]:
        """Dedup and throttle matches in order (``Settlement``): one write for the
        keys the matches claim first, one for the alerts they raise."""
        keyed = [Keyed.of(m) for m in matches]
        settlement = Settlement(self.state, now)
        settlement.claim_new_keys(keyed)
        for k in keyed:
            settlement.settle(k)
        settlement.store_raised()
        if settlement.suppressed:  # never lost: kept, and attached to their storm alert
            self.state.suppress_matches(settlement.suppressed)
        self.storms = list(settlement.storms.values())
        return settlement.outcomes


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def deadline_id(rule_id: str, event: dict) -> str:
    return hashlib.sha256(f"{rule_id}\x1f{event_key(event)}".encode()).hexdigest()[:32]


def build_alert(
    rule: dict,
    facts: Facts,
    trace: list[dict],
    now: datetime,
    dkey: str,
    cooldown: int,
    group: dict | None = None,
) -> dict:
    """The alert a match raises; a group rule's alert names its group (``scope: group``)
    and is about the event that tipped it."""
    event = facts.event
    customer = event["customer"]
    scope: dict[str, Any] = {"scope": "customer", "group": None}
    if group is not None:
        spec = rule["group"]
        scope = {
            "scope": "group",
            "group": {
                "by": list(spec["by"]),
                "key": dict(group["key"]),
                "condition": next(k for k in ("score_below", "spike", "negative_share") if k in spec),
                "window": spec["window"],
                "observed": dict(group["observed"]),
            },
        }
    return {
        "_id": alert_id_for(rule["id"], event),
        "raised_at": now,
        "raised_ts": epoch(now),  # for period filters: numbers compare alike on every server
        "level": rule["level"],
        "rule": {"id": rule["id"], "version": rule["version"], "name": rule["name"]},
        "owner": rule["owner"],
        "channels": rule["channels"],
        "customer": {k: customer[k] for k in ("id", "name", "tier") if k in customer},
        "event": event_summary(event),
        "trace": trace,
        "facts": facts.derived(),
        "dedup": {
            "key": dkey,
            "cooldown": (rule.get("dedup") or {}).get("cooldown", "24h"),
            "until": event["occurred_at"].astimezone(UTC) + timedelta(seconds=cooldown),
        },
        "count": 1,
        "last_seen": {"at": event["occurred_at"], "event_id": event["event_id"], "source": event["source"]},
        "last_seen_ts": epoch(event["occurred_at"]),
        "throttle": rule.get("throttle"),  # its rule's throttle: matches it refuses attach here
        **scope,
    }
