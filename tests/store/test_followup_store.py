"""The follow-up store on the real MongoDB: due follow-ups claimed once under concurrency,
a dead claimer's lease taken over, every later step (outcome, answer, task) applied once."""

from datetime import UTC, datetime, timedelta

import eventlet
import pytest

from services.cases import followup
from services.cases.business_calendar import always_open
from services.cases.stores.followups import FollowupStore, outcome_entry

pytestmark = pytest.mark.store

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
POLICY = followup.load_policy({"rules": [{"name": "all", "by": "automatic", "channels": ["sms"]}]})


def scheduled(store: FollowupStore, n: int, hours: float = 0.0) -> dict:
    case = {
        "_id": f"CASE-{n}",
        "level": "P3",
        "customer": {"id": f"C{n}"},
        "event": {"scores": {"nps": 3}},
        "reopen_count": 0,
        "opened_at": NOW,
    }
    rule = {**POLICY["rules"][0], "after_business_hours": hours}
    fu = followup.new_followup(case, rule, POLICY, 1, always_open(), NOW)
    store.schedule(fu)
    return fu


def test_due_followups_are_claimed_once_by_concurrent_sweeps(db):
    store = FollowupStore(db)
    for n in range(20):
        scheduled(store, n)
    scheduled(store, 99, hours=5)  # not due yet
    now = NOW.timestamp() + 1

    def sweep(worker: str) -> list[str]:
        got = []
        while (fu := store.claim(now, worker, 30)) is not None:
            got.append(fu["_id"])
            eventlet.sleep(0)
        return got

    claims = [
        fu_id for got in eventlet.GreenPool(8).imap(sweep, [f"w{i}" for i in range(8)]) for fu_id in got
    ]
    assert sorted(claims) == sorted(f"CASE-{n}:fu0" for n in range(20))  # each once, the future one left
    assert store.get("CASE-99:fu0")["state"] == "pending"
    scheduled(store, 0)  # scheduling again (a repeated resolve) changes nothing
    assert store.get("CASE-0:fu0")["state"] == "claimed"


def test_a_dead_claimers_lease_is_taken_over_and_only_the_claimer_finishes(db):
    store = FollowupStore(db)
    scheduled(store, 1)
    now = NOW.timestamp() + 1
    assert store.claim(now, "dead", 30)["claimed_by"] == "dead"
    assert store.claim(now + 10, "alive", 30) is None  # the lease holds
    assert store.claim(now + 31, "alive", 30)["claimed_by"] == "alive"
    assert store.finish("CASE-1:fu0", "dead", "sent") is None  # the dead one lost it
    assert store.finish(
        "CASE-1:fu0", "alive", "sent", nonce="n1", message={"message_id": "m1", "outcome": None}
    )


def test_outcome_answer_and_task_are_each_applied_once(db):
    store = FollowupStore(db)
    scheduled(store, 1)
    store.claim(NOW.timestamp() + 1, "w", 30)
    store.finish("CASE-1:fu0", "w", "sent", nonce="n1", message={"message_id": "m1", "outcome": None})
    refused = {"status": "refused", "channel": None, "reason": "fatigued", "finished_at": NOW}
    recorded = store.record_outcome("m1", outcome_entry(refused, NOW))["message"]["outcome"]
    assert recorded["reason"] == "fatigued" and recorded["finished_at"] == NOW  # a datetime, as given
    assert store.record_outcome("m1", outcome_entry(refused, NOW)) is None  # a redelivery
    assert store.record_outcome("unknown", outcome_entry(refused, NOW)) is None

    answer = {"scale": "csat", "score": 2, "classification": "unhappy", "at": NOW, "by": None}
    assert store.answer("CASE-1:fu0", answer, "wrong-nonce") is None
    results = list(eventlet.GreenPool(4).imap(lambda _: store.answer("CASE-1:fu0", answer, "n1"), range(4)))
    assert sum(r is not None for r in results) == 1  # of four at once, one answer is taken
    assert store.by_nonce("CASE-1", "n1")["state"] == "answered"
    assert store.by_nonce("CASE-1", "n1")["answer"]["at"] == NOW
    assert store.open_task("CASE-1:fu0", {"opened_at": NOW}) is None  # answered: no task any more

    scheduled(store, 2)
    store.claim(NOW.timestamp() + 1, "w", 30)
    task = {"assignee": {"kind": "person", "id": "li.na"}, "opened_at": NOW, "due_epoch": NOW.timestamp()}
    store.finish("CASE-2:fu0", "w", "task", task=task)
    later = NOW.timestamp() + 60
    assert [
        t["_id"] for t in store.tasks(assignees=["li.na"], state="open", overdue_at=later, limit=10, skip=0)
    ] == ["CASE-2:fu0"]
    assert store.tasks(assignees=["someone"], state="open", overdue_at=None, limit=10, skip=0) == []
    done = {**task, "done_at": NOW + timedelta(hours=1), "done_by": "li.na", "note": None}
    finished = store.complete_task("CASE-2:fu0", done)
    assert finished["state"] == "done" and finished["task"]["done_at"] == NOW + timedelta(hours=1)
    assert store.complete_task("CASE-2:fu0", done) is None
    assert (
        store.tasks(assignees=None, state="done", overdue_at=None, limit=10, skip=0)[0]["_id"] == "CASE-2:fu0"
    )
    assert store.cancel_pending("CASE-2", "reopened") == 0
    assert store.counts()["done"] == 1 and store.counts()["answered"] == 1
