"""services/common/mongo.py ``plain_copy``: a deep copy of stored documents that is
independent of the original wherever the original can change."""

import copy
from datetime import UTC, datetime

from bson import ObjectId

from services.common.mongo import plain_copy


def a_document() -> dict:
    return {
        "_id": "B1",
        "at": datetime(2026, 12, 6, 17, 0, tzinfo=UTC),
        "oid": ObjectId(),
        "raw": b"\x00\x01",
        "n": 3,
        "x": 1.5,
        "flag": True,
        "none": None,
        "open_cases": {"C1": {"status": "assigned", "tags": ["a", {"deep": [1, 2]}]}},
        "list": [{"k": 1}, [2, [3]]],
        "pair": ("a", 1),
    }


def test_the_copy_equals_the_original_and_deepcopy():
    doc = a_document()
    assert plain_copy(doc) == doc == copy.deepcopy(doc)


def test_no_container_is_shared_so_changing_the_copy_leaves_the_original():
    doc = a_document()
    before = copy.deepcopy(doc)
    clone = plain_copy(doc)
    clone["open_cases"]["C1"]["status"] = "resolved"
    clone["open_cases"]["C1"]["tags"][1]["deep"].append(3)
    clone["list"][1][1].append(4)
    clone["list"][0]["k"] = 2
    clone["n"] += 1
    assert doc == before
    assert clone["open_cases"] is not doc["open_cases"]
    assert clone["list"][1][1] is not doc["list"][1][1]


def test_scalars_and_none_pass_through():
    assert plain_copy(None) is None
    assert plain_copy("x") == "x" and plain_copy(5) == 5
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    assert plain_copy({"at": stamp})["at"] is stamp  # immutable: shared, not copied
