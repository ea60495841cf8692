"""In-memory engine state: dry runs (``cxctl rules test``) and explain previews.

Same semantics as MongoState (services/alerts/state_store.py), nothing persisted.
"""

from __future__ import annotations

from collections import defaultdict

from services.alerts.engine import Refused, deadline_id
from services.alerts.group_rules import GroupHit


class MemoryState:
    def __init__(self):
        self.customers: dict[str, str] = {}
        self.hits: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
        self.scores: dict[tuple[str, str], dict[str, tuple[float, float]]] = defaultdict(dict)
        self.dedup: dict[str, tuple[str, float]] = {}
        self.slots: dict[str, list[str]] = defaultdict(list)
        self.suppressed: dict[str, dict[str, dict]] = defaultdict(dict)
        self.alerts: dict[str, dict] = {}
        self.attached: dict[str, dict[str, float]] = defaultdict(dict)
        self.deadlines: dict[str, dict] = {}
        # group bucket -> counters, and the events counted in it
        self.buckets: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.bucket_events: dict[str, set[str]] = defaultdict(set)

    def add_deadline(self, rule_id: str, event: dict, at: float, due: float) -> None:
        self.deadlines.setdefault(
            deadline_id(rule_id, event),
            {
                "_id": deadline_id(rule_id, event),
                "rule_id": rule_id,
                "customer": event["customer"]["id"],
                "event": event,
                "at": at,
                "due": due,
                "state": "waiting",
            },
        )

    def respond(self, customer_id: str, at: float) -> int:
        answered = [
            d
            for d in self.deadlines.values()
            if d["customer"] == customer_id and d["state"] == "waiting" and d["at"] <= at
        ]
        for d in answered:
            d["state"] = "answered"
        return len(answered)

    def claim_due(self, now: float, limit: int) -> list[dict]:
        due = sorted(
            (d for d in self.deadlines.values() if d["state"] == "waiting" and d["due"] <= now),
            key=lambda d: d["due"],
        )[:limit]
        for d in due:
            d["state"] = "firing"
        return due

    def finish_deadline(self, deadline_id: str) -> None:
        self.deadlines[deadline_id]["state"] = "fired"

    def register_customer(self, customer_id: str, key: str) -> bool:
        if customer_id in self.customers:
            return False
        self.customers[customer_id] = key
        return True

    def first_event(self, customer_id: str) -> str | None:
        return self.customers.get(customer_id)

    def register_customers(self, pairs: list[tuple[str, str]]) -> list[bool]:
        return [self.register_customer(customer, key) for customer, key in pairs]

    def record_hit(self, window: str, customer_id: str, key: str, at: float, keep: int) -> dict[str, float]:
        hits = self.hits[(window, customer_id)]
        hits[key] = at
        return dict(hits)

    def hit_times(self, window: str, customer_id: str, since: float, until: float) -> dict[str, float]:
        return {k: at for k, at in self.hits[(window, customer_id)].items() if since < at <= until}

    def record_score(
        self, customer_id: str, score: str, key: str, value: float, at: float, keep: int
    ) -> None:
        self.scores[(customer_id, score)][key] = (at, value)

    def score_history(
        self, customer_id: str, score: str, since: float, until: float, exclude: str
    ) -> list[float]:
        return [
            value
            for key, (at, value) in self.scores[(customer_id, score)].items()
            if since < at <= until and key != exclude
        ]

    def claim_new_dedups(self, claims: list[tuple[str, str, float, float]]) -> list[bool]:
        created = []
        for key, alert_id, _at, until in claims:
            created.append(key not in self.dedup)
            self.dedup.setdefault(key, (alert_id, until))
        return created

    def claim_dedup(self, dedup_key: str, alert_id: str, at: float, until: float) -> str:
        current = self.dedup.get(dedup_key)
        if current is None or current[1] <= at:
            self.dedup[dedup_key] = (alert_id, until)
            return alert_id
        return current[0]

    def release_dedup(self, dedup_key: str, alert_id: str) -> None:
        if self.dedup.get(dedup_key, ("", 0))[0] == alert_id:
            self.dedup[dedup_key] = (alert_id, 0)

    def take_throttle_slot(self, bucket: str, max_alerts: int, alert_id: str) -> bool:
        slots = self.slots[bucket]
        if alert_id in slots:
            return True
        if len(slots) >= max_alerts:
            return False
        slots.append(alert_id)
        return True

    def suppress_matches(self, matches: list[Refused]) -> None:
        for rule_id, key, alert, bucket, storm in matches:
            if key in self.suppressed[rule_id]:
                continue  # kept once
            holder = storm or (self.slots[bucket][-1] if self.slots[bucket] else None)
            self.suppressed[rule_id][key] = {**alert, "attached_to": holder}
            if holder in self.alerts:
                self.alerts[holder]["suppressed"] = self.alerts[holder].get("suppressed", 0) + 1

    def save_alerts(self, alerts: list[tuple[dict, dict[str, float]]]) -> list[bool]:
        created = []
        for alert, hits in alerts:
            created.append(alert["_id"] not in self.alerts)
            if created[-1]:
                self.alerts[alert["_id"]] = dict(alert)
                self.attached[alert["_id"]].update(hits)
        return created

    def count_group_hits(self, hits: list[GroupHit], read: list[str]) -> dict[str, dict[str, float]]:
        for hit in hits:
            if hit.key not in self.bucket_events[hit.bucket]:
                self.bucket_events[hit.bucket].add(hit.key)
                for name, value in hit.fields.items():
                    self.buckets[hit.bucket][name] += value
        return {b: dict(self.buckets[b]) for b in read if b in self.buckets}

    def end_group_episodes(self, ends: list[tuple[str, float]]) -> None:
        for key, at in ends:
            current = self.dedup.get(key)
            if current is not None and current[1] > at:
                self.dedup[key] = (current[0], at)

    def attach(self, alert_id: str, key: str, event: dict, at: float) -> None:
        self.attached[alert_id][key] = at
        alert = self.alerts.get(alert_id)
        if alert is not None:
            alert["count"] = len(self.attached[alert_id])
            if at > alert["last_seen_ts"]:
                alert["last_seen_ts"] = at
                alert["last_seen"] = {
                    "at": event["occurred_at"],
                    "event_id": event["event_id"],
                    "source": event["source"],
                }


class PreviewState(MemoryState):
    """Stored state (a MongoState) read-only, this event's writes kept in memory:
    "what would happen" (``cxctl rules explain``) without touching the database."""

    def __init__(self, store):
        super().__init__()
        self.store = store

    def register_customer(self, customer_id: str, key: str) -> bool:
        return False  # nothing is written; first_event answers from the store

    def first_event(self, customer_id: str) -> str | None:
        return self.store.first_event(customer_id)

    def record_hit(self, window: str, customer_id: str, key: str, at: float, keep: int) -> dict[str, float]:
        stored = self.store.hit_times(window, customer_id, float("-inf"), float("inf"))
        return {**stored, **super().record_hit(window, customer_id, key, at, keep)}

    def hit_times(self, window: str, customer_id: str, since: float, until: float) -> dict[str, float]:
        stored = self.store.hit_times(window, customer_id, since, until)
        return {**stored, **super().hit_times(window, customer_id, since, until)}

    def score_history(
        self, customer_id: str, score: str, since: float, until: float, exclude: str
    ) -> list[float]:
        return self.store.score_history(customer_id, score, since, until, exclude)

    def claim_new_dedups(self, claims: list[tuple[str, str, float, float]]) -> list[bool]:
        return [False] * len(claims)  # each settled by claim_dedup, which reads the store

    def claim_dedup(self, dedup_key: str, alert_id: str, at: float, until: float) -> str:
        current = self.store.dedup_owner(dedup_key)
        if current is not None and current["open_until"] > at:
            return current["alert_id"]
        return super().claim_dedup(dedup_key, alert_id, at, until)

    def take_throttle_slot(self, bucket: str, max_alerts: int, alert_id: str) -> bool:
        return self.store.throttle_room(bucket, max_alerts, alert_id)

    def count_group_hits(self, hits: list[GroupHit], read: list[str]) -> dict[str, dict[str, float]]:
        """The stored counters plus this event's hits (kept in memory): what it would see."""
        totals = {b: dict(c) for b, c in self.store.group_totals(read).items()}
        stored = self.store.group_counted([(h.bucket, h.key) for h in hits])
        fresh = [h for h, counted in zip(hits, stored, strict=True) if not counted]
        for bucket, counters in super().count_group_hits(fresh, read).items():
            for name, value in counters.items():
                totals.setdefault(bucket, {})[name] = totals.get(bucket, {}).get(name, 0) + value
        return totals
