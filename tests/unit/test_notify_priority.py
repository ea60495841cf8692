"""P1 goes first (services/notify/priority.py): the priority each level's message carries,
the order of prefetched requests waiting for a batch, the order within a batch."""

import pytest

from services.common.messaging import MAX_PRIORITY, level_priority
from services.notify.priority import PriorityBatcher, by_urgency

pytestmark = pytest.mark.unit


class Entrypoint:
    container = None


def test_each_level_has_its_priority_p1_highest():
    priorities = [level_priority({"level": level}) for level in ("P1", "P2", "P3", "P4")]
    assert priorities == sorted(priorities, reverse=True) and len(set(priorities)) == 4
    assert priorities[0] == MAX_PRIORITY and priorities[0] > 4  # above 4: first on a RabbitMQ 4 quorum queue
    assert (
        level_priority({"kind": "x"}) == 0
        and level_priority({"level": ["P1"]}) == 0
        and level_priority(None) == 0
    )


def test_a_batch_is_sent_most_urgent_first_in_arrival_order_within_a_level():
    requests = [
        {"id": 1, "level": "P3"},
        {"id": 2, "level": "P1"},
        {"id": 3, "level": "P4"},
        {"id": 4, "level": "P1"},
    ]
    assert [r["id"] for r in by_urgency(requests)] == [2, 4, 1, 3]


def test_prefetched_requests_wait_in_urgency_order():
    batcher = PriorityBatcher(Entrypoint(), size=2, wait=0.0, concurrency=1)
    for n, level in enumerate(["P3", "P3", "P2", "P3", "P1", "P2", "P1"]):
        batcher.put(f"m:{n}", {"n": n, "level": level}, message=None)
    assert [(i.value["level"], i.value["n"]) for i in batcher.pending] == [
        ("P1", 4), ("P1", 6), ("P2", 2), ("P2", 5), ("P3", 0), ("P3", 1), ("P3", 3),
    ]  # fmt: skip
    assert [i.value["n"] for i in batcher.take()] == [4, 6]
