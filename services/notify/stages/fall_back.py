"""The fall-back stage: deliveries that failed for good are sent again on the policy's
fallback channel (``NOTIFY_FALLBACK_CHANNEL``), to the same people: a team's group
robot failing means mailing its members. A fallback is due at once (quiet hours are
not applied again) and never falls back itself; nor is one made for someone the
notification already goes to on that channel.
"""

from __future__ import annotations

from typing import Protocol

from services.notify.stages.plan import Plan, delivery_key


class Deliveries(Protocol):
    def resolve(self, ref: dict) -> list[dict]: ...

    def get_deliveries(self, ids: list[str]) -> dict[str, dict]: ...

    def create_many(self, items: list[tuple[dict, float]]) -> list[dict | None]: ...

    def count(self, name: str, n: int = 1) -> None: ...


class FallBack:
    """Creates fallback deliveries with three store commands for a batch's failures: the
    failed ones as stored now (an erasure may have scrubbed their context since their
    attempt began) and the notification's own deliveries on the fallback channel are
    read in one ``find``, the new ones inserted with one ``insert_many``, and counted."""

    def __init__(self, fallback: dict | None, store: Deliveries, plan: Plan):
        self.fallback = fallback or {}  # channel -> fallback channel, e.g. {"wecom": "email"}
        self.store = store
        self.plan = plan

    def create(self, failed: list[dict], now: float) -> list[dict]:
        """The fallback deliveries of ``failed`` (deliveries that failed for good) that
        were created now, as stored; one created before (a re-run) is not repeated."""
        wanted = []
        for doc in failed:
            target = self.fallback.get(doc["channel"])
            if not target or doc.get("fallback_of") or target == doc["channel"]:
                continue
            refs = [doc["recipient"]]
            if doc["recipient"]["kind"] == "team" and target == "email":
                refs = [{"kind": "person", "id": p["id"]} for p in self.store.resolve(doc["recipient"])]
            wanted += [(doc, target, ref) for ref in refs]
        if not wanted:
            return []
        known = self.store.get_deliveries(
            [doc["_id"] for doc, _, _ in wanted]
            + [delivery_key(doc["notification_id"], target, ref) for doc, target, ref in wanted]
        )
        fresh: list[tuple[dict, float]] = []
        for doc, target, ref in wanted:
            if delivery_key(doc["notification_id"], target, ref) in known:
                continue  # the notification already goes to them on that channel
            stored = known.get(doc["_id"], doc)
            request = {k: stored[k] for k in ("notification_id", "kind", "level", "case_id", "context")}
            delivery_id = f"{doc['_id']}|fallback:{target}:{ref['kind']}:{ref['id']}"
            one = self.plan.delivery(delivery_id, request, ref, target, now, fallback_of=doc["_id"])
            one.update(status="scheduled", next_attempt_at=now, held=False)  # already due; do not hold again
            fresh.append((one, 0))
        created = [one for one in self.store.create_many(fresh) if one is not None]
        if created:
            self.store.count("fallbacks", len(created))
        return created
