"""``alert_raised`` payloads as the alerts service writes them, customer and group
scoped, built by dumping the contract's ``AlertRaisedV1`` (so every field has the
type and shape the contract gives it) and loading it back as a consumer receives it.

The alerts side of group rules is built in parallel (issue 17 part 2); the values here
follow ``contracts/messages.py`` (``GroupRef``: ``by`` paths, ``key`` path → string
value, ``condition``, ``window``, ``observed``) and the ids ``services/alerts`` makes
(``AL-`` + 20 hex digits of a hash)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from contracts.messages import schema_of

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


def alert_id(*parts: str) -> str:
    return "AL-" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:20]


def event(
    n: int, *, store: str = "SH-021", touchpoint: str = "checkout", channel: str = "app", nps: int = 2
) -> dict:
    return {
        "source": "survey-app",
        "event_id": f"ev-{store}-{n}",
        "occurred_at": (T0 + timedelta(minutes=n)).isoformat(),
        "channel": channel,
        "touchpoint": touchpoint,
        "scores": {"nps": nps},
        "text": "排队半小时，收银台只开了一个",
        "tags": [],
        "attributes": {"store": store, "region": "east", "product": "grocery"},
    }


def customer_alert(
    n: int, customer: str | None = None, *, wire: bool = False, owner_id: str = "li.na", **where
) -> dict:
    """A detractor alert on one customer's event ``n`` (rule ``detractor``, P3)."""
    ev = event(n, **where)
    payload = {
        "schema_version": 1,
        "alert_id": alert_id("detractor", ev["source"], ev["event_id"]),
        "raised_at": ev["occurred_at"],
        "level": "P3",
        "rule": {"id": "detractor", "version": 1, "name": "NPS 贬损者"},
        "owner": {"kind": "person", "id": owner_id},
        "channels": ["email"],
        "customer": {"id": customer or f"C{n:04d}", "name": f"顾客{n}", "tier": "standard"},
        "event": ev,
        "trace": [  # services/alerts/evaluate.py's leaf entry
            {
                "path": "when.all.0",
                "field": "scores.nps",
                "op": "lte",
                "value": 6,
                "actual": ev["scores"]["nps"],
                "result": True,
            }
        ],  # fmt: skip
        "dedup_key": None,
        "facts": {"sentiment": "negative"},
        "scope": "customer",
        "group": None,
    }
    return _as_received(payload, wire)


def group_alert(
    n: int = 50, *, by=("attributes.store",), wire: bool = False, level: str = "P1", **where
) -> dict:
    """The group alert the ``n``-th event of a store tipped (its NPS over 1h fell below 0
    with at least 30 responses): customer and event are that event's."""
    ev = event(n, **where)
    key = {path: _resolve(ev, path) for path in by}
    payload = {
        "schema_version": 1,
        "alert_id": alert_id("store-nps-collapse", *(f"{p}={v}" for p, v in key.items()), ev["event_id"]),
        "raised_at": ev["occurred_at"],
        "level": level,
        "rule": {"id": "store-nps-collapse", "version": 2, "name": "门店 NPS 骤降"},
        "owner": {"kind": "person", "id": "zhao.min"},
        "channels": ["email"],
        "customer": {"id": f"C{n:04d}", "name": f"顾客{n}", "tier": "standard"},
        "event": ev,
        "trace": [  # a leaf entry as evaluate.py writes one; the group condition's own
            # explanation is the alerts side's (issue 17 part 2), not read here
            {"path": "when.group", "field": "nps", "op": "lt", "value": 0, "actual": -46.0, "result": True}
        ],
        "dedup_key": "store-nps-collapse|" + "|".join(key.values()),
        "facts": {},
        "scope": "group",
        "group": {
            "by": list(by),
            "key": key,
            "condition": "score_below",
            "window": "1h",
            "observed": {"value": -46.0, "count": n, "threshold": 0, "min_responses": 30},
        },
    }
    return _as_received(payload, wire)


def _resolve(ev: dict, path: str) -> str:
    value = ev
    for part in path.split("."):
        value = value[part]
    return str(value)


def _as_received(payload: dict, wire: bool) -> dict:
    schema = schema_of("alert_raised")
    dumped = schema.dump(schema.load(payload))
    assert not schema.validate(dumped)
    return dumped if wire else schema.load(dumped)
