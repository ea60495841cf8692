"""The record stage: a batch's settles in one store call, then the ones that applied are
announced and counted (one count per counter) and those that failed for good handed on
to the fall-back stage; a store outage is waited out up to half a lease."""

import time

import pytest
from pymongo.errors import AutoReconnect

from services.notify.channels.base import Outcome
from services.notify.stages import record as record_module
from services.notify.stages.record import Record, Settle, announcement


class Store:
    """A stand-in for ``settle_many`` and ``count``: ``held`` says which settles apply;
    the first ``outages`` calls fail as if the store were away."""

    def __init__(self, held=None, outages=0):
        self.held = held
        self.outages = outages
        self.calls: list[list] = []
        self.counted: list[tuple[str, int]] = []

    def settle_many(self, items):
        self.calls.append(items)
        if self.outages:
            self.outages -= 1
            raise AutoReconnect("connection refused")
        return self.held if self.held is not None else [True] * len(items)

    def count(self, name, n=1):
        self.counted.append((name, n))


class Announced(list):
    def __call__(self, doc, outcome, attempts):
        self.append((doc["_id"], outcome.status, attempts))


def doc(n: int) -> dict:
    return {"_id": f"d{n}", "lease_until": 60.0}


def delivered(n: int) -> Settle:
    return Settle(doc(n), {"status": "delivered"}, {"attempt": 1}, announce=Outcome.ok(), attempt=1)


def failed(n: int, counter: str = "permanent_failures") -> Settle:
    return Settle(
        doc(n), {"status": "failed"}, {"attempt": 2}, Outcome.failed("x"), attempt=2, counter=counter
    )


def deferred(n: int) -> Settle:
    return Settle(doc(n), {"status": "scheduled", "next_attempt_at": 3.0})


def test_a_batch_is_settled_in_one_call_then_announced_counted_and_its_failures_handed_on():
    store, announced = Store(), Announced()
    record = Record(store, 60.0, announced)
    for settle in (delivered(0), failed(1), deferred(2), failed(3, "retries_exhausted"), failed(4)):
        record.add(settle)
    assert record.flush() == [doc(1), doc(3), doc(4)]
    [items] = store.calls
    assert [(d["_id"], update, entry) for d, update, entry in items] == [
        ("d0", {"status": "delivered"}, {"attempt": 1}),
        ("d1", {"status": "failed"}, {"attempt": 2}),
        ("d2", {"status": "scheduled", "next_attempt_at": 3.0}, None),
        ("d3", {"status": "failed"}, {"attempt": 2}),
        ("d4", {"status": "failed"}, {"attempt": 2}),
    ]
    assert announced == [
        ("d0", "delivered", 1),
        ("d1", "failed", 2),
        ("d3", "failed", 2),
        ("d4", "failed", 2),
    ]
    assert store.counted == [("permanent_failures", 2), ("retries_exhausted", 1)]
    assert record.flush() == [] and len(store.calls) == 1  # nothing pending: no call


def test_a_settle_that_did_not_apply_is_left_to_the_worker_that_took_it_over():
    store, announced = Store(held=[False, True, False]), Announced()
    record = Record(store, 60.0, announced)
    for settle in (delivered(0), failed(1), failed(2)):
        record.add(settle)
    assert record.flush() == [doc(1)]
    assert announced == [("d1", "failed", 2)] and store.counted == [("permanent_failures", 1)]


def test_settles_wait_for_company_at_most_a_quarter_lease():
    store = Store()
    record = Record(store, 40.0, Announced())
    record.add(delivered(0))
    assert record.flush_if_due() == [] and store.calls == []
    record.pending[0].queued -= 10.0  # the oldest has now waited a quarter of the 40 s lease
    record.add(failed(1))
    assert record.flush_if_due() == [doc(1)] and len(store.calls[0]) == 2 and record.pending == []


def test_a_store_outage_while_recording_is_waited_out(monkeypatch):
    monkeypatch.setattr(record_module, "STORE_RETRY_SECONDS", 0.01)
    store, announced = Store(outages=2), Announced()
    record = Record(store, 60.0, announced)
    record.add(delivered(0))
    record.flush()
    assert len(store.calls) == 3 and announced == [("d0", "delivered", 1)]


def test_an_outage_longer_than_half_a_lease_is_raised(monkeypatch):
    monkeypatch.setattr(record_module, "STORE_RETRY_SECONDS", 0.01)
    store = Store(outages=1000)
    record = Record(store, 0.1, Announced())
    record.add(delivered(0))
    started = time.monotonic()
    with pytest.raises(AutoReconnect):
        record.flush()
    assert 0.05 <= time.monotonic() - started < 1.0


def test_the_announcement_names_the_delivery_and_clips_vendor_texts():
    d = {"notification_id": "n1", "channel": "email", "recipient": {"kind": "person", "id": "emma"}}
    payload = announcement(d, Outcome(status="failed", error="e" * 3000, detail=""), 2)
    assert payload["notification_id"] == "n1" and payload["channel"] == "email" and payload["attempts"] == 2
    assert payload["status"] == "failed" and len(payload["error"]) == 2000 and payload["message_id"] is None
    assert announcement(d, Outcome.ok("m" * 400), 1)["message_id"] == "m" * 300
