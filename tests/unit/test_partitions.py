"""The partition key and lanes of the partitioned feedback topology."""

import json

import pytest
from nameko import config

from services.common import partitions


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (json.dumps({"customer": {"id": "C1"}}), "C1"),
        (json.dumps({"customer": {"id": "王芳-7"}}, ensure_ascii=False).encode("utf-8"), "王芳-7"),
        ({"customer": {"id": "C2"}}, "C2"),
        (b"\xff\xfe not json", ""),
        ("[1, 2]", ""),
        (json.dumps({"customer": "C3"}), ""),
        (json.dumps({"customer": {"id": 42}}), ""),
        (json.dumps({}), ""),
    ],
)
def test_partition_key_is_the_customer_id_or_empty(body, key):
    assert partitions.partition_key(body) == key


def test_a_key_always_lands_in_the_same_lane_and_lanes_are_used_evenly():
    lanes = [partitions.lane_of(f"C{i}", 8) for i in range(8000)]
    assert lanes == [partitions.lane_of(f"C{i}", 8) for i in range(8000)]
    counts = [lanes.count(n) for n in range(8)]
    assert min(counts) > 800 and max(counts) < 1200


def test_replicas_own_disjoint_shares_that_cover_every_partition():
    owners = {}
    for index in range(3):
        with config.patch({"REPLICA_COUNT": 3, "REPLICA_INDEX": index}):
            owners[index] = {p for p in range(8) if partitions.owned(p)}
    assert set().union(*owners.values()) == set(range(8))
    assert sum(len(o) for o in owners.values()) == 8


def test_partition_count_is_bounded():
    with config.patch({"FEEDBACK_PARTITIONS": 300}), pytest.raises(ValueError, match="FEEDBACK_PARTITIONS"):
        partitions.partition_count()


def test_partition_queues_are_single_active_consumer_on_a_consistent_hash_exchange():
    queues = partitions.partition_queues("alerts", 3, {"x-queue-type": "quorum"})
    assert [q.name for q in queues] == [
        "cx.feedback.alerts.p00",
        "cx.feedback.alerts.p01",
        "cx.feedback.alerts.p02",
    ]
    assert all(
        q.queue_arguments == {"x-queue-type": "quorum", "x-single-active-consumer": True} for q in queues
    )
    exchange = queues[0].exchange
    assert exchange.type == "x-consistent-hash"
    assert exchange.arguments == {"hash-header": partitions.PARTITION_HEADER}
