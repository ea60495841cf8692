"""What the alerts service announces for the outcomes of the engine
(services/alerts/processing.py), without a broker or store."""

from datetime import UTC, datetime

from services.alerts.engine import Outcome
from services.alerts.processing import alert_message, announcements

RAISED_AT = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)


def alert(alert_id: str) -> dict:
    return {
        "_id": alert_id,
        "raised_at": RAISED_AT,
        "raised_ts": RAISED_AT.timestamp(),
        "level": "P2",
        "rule": {"id": "low", "version": 1, "name": "R"},
        "dedup": {"key": f"low|customer.id={alert_id}", "cooldown": "24h"},
        "count": 1,
        "last_seen": {},
        "last_seen_ts": 0.0,
    }


class Alerts:
    """The stored alerts (``store.alerts``): what a retry reads back."""

    def __init__(self, stored: dict):
        self.stored, self.reads = stored, []

    def get_alert(self, alert_id):
        self.reads.append(alert_id)
        return self.stored.get(alert_id)


class Store:
    def __init__(self, stored: dict):
        self.alerts = Alerts(stored)


def outcome(kind: str, alert_id: str, fresh: bool = False) -> Outcome:
    return Outcome("low", kind, alert_id, f"low|customer.id={alert_id}", alert=alert(alert_id), fresh=fresh)


def test_only_raised_alerts_are_announced_the_fresh_ones_without_a_read():
    store = Store({"A2": {**alert("A2"), "level": "P1"}})
    outcomes = [
        outcome("raised", "A1", fresh=True),
        outcome("attached", "A1"),
        outcome("suppressed", "A3"),
        outcome("raised", "A2"),  # it existed: a retry after a crash announces the stored one
        outcome("raised", "A4"),  # it existed and is gone since: nothing to announce
    ]
    messages = list(announcements(store, outcomes))
    assert [(m["alert_id"], m["level"]) for m in messages] == [("A1", "P2"), ("A2", "P1")]
    assert store.alerts.reads == ["A2", "A4"]
    # as the store returns it: datetimes to the millisecond
    assert messages[0]["raised_at"] == RAISED_AT.replace(microsecond=123000)


def test_the_announcement_carries_the_dedup_key_but_not_the_alerts_bookkeeping():
    message = alert_message({**alert("A1"), "hits": {"x": 1.0}})
    assert message["alert_id"] == "A1" and message["dedup_key"] == "low|customer.id=A1"
    assert not {"_id", "dedup", "count", "hits", "last_seen", "last_seen_ts", "raised_ts"} & set(message)
    assert message["rule"] == {"id": "low", "version": 1, "name": "R"}
