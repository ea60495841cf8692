"""Pure helpers of the benchmark campaign: py-spy summaries, footprint copies, targets."""

from bson import ObjectId

from bench.campaign import targets
from bench.footprint import copy_of, extrapolate, identifiers
from bench.hotpath import function_of, parse_raw, summarise

ROOT = "main (eventlet/greenthread.py:272);handle_feedback (services/alerts/service.py:{line})"
RAW = "\n".join(
    [
        ROOT.format(line=90) + ";find_one (pymongo/collection.py:1) 6",
        ROOT.format(line=95) + ";loads (json/__init__.py:346) 3",
        "run (eventlet/hubs/hub.py:365);do_poll (eventlet/hubs/epolls.py:30) 1",
        "not a stack line",
    ]
)


def test_pyspy_raw_is_summarised_by_own_and_by_our_total_time():
    summary = summarise(parse_raw(RAW))
    assert summary["samples"] == 10
    assert [(r["function"], r["samples"]) for r in summary["own"]] == [
        ("find_one (pymongo/collection.py)", 6),
        ("loads (json/__init__.py)", 3),
        ("do_poll (eventlet/hubs/epolls.py)", 1),
    ]
    # lines of one function are one function; only the project's own code is listed by total
    assert [(r["function"], r["share"]) for r in summary["total"]] == [
        ("handle_feedback (services/alerts/service.py)", 0.9)
    ]
    assert function_of("<module> (<string>:3)") == "<module> (<string>)"


def test_footprint_copies_get_distinct_ids_and_keep_their_references():
    collections = {
        "cases": [{"_id": "CASE-1", "alert_id": "AL-1", "customer": {"id": "B1"}, "n": 1}],
        "open_keys": [{"_id": "B1|rule", "case_id": "CASE-1"}],
        "inbox": [{"_id": ObjectId(), "key": "m-1"}],
    }
    ids = identifiers(collections, {"cases": {"alert_id"}, "inbox": {"key"}})
    assert ids == {"CASE-1", "AL-1", "B1|rule", "m-1"}
    case = copy_of(collections["cases"][0], ids, "~3")
    assert case == {"_id": "CASE-1~3", "alert_id": "AL-1~3", "customer": {"id": "B1"}, "n": 1}
    assert copy_of(collections["open_keys"][0], ids, "~3")["case_id"] == "CASE-1~3"
    inbox = copy_of(collections["inbox"][0], ids, "~3")
    assert inbox["_id"] != collections["inbox"][0]["_id"] and inbox["key"] == "m-1~3"
    assert copy_of({"_id": 7}, ids, "~3")["_id"] == "7~3"
    per = {"store_bytes_per_unit": {"data": 900.0, "index": 100.0}, "bson_bytes_per_unit": 500.0}
    scaled = extrapolate(per, 1000)
    assert scaled["store_bytes"] == 1_000_000 and scaled["bson_bytes"] == 500_000


def _leg(rate: float, p99: float) -> dict:
    return {"delivered": 1, "rate": rate, "latency_s": {"p99": p99}}


def test_targets_say_how_far_each_is_missed():
    result = {
        "baseline": {"rate": 1000.0},
        "rates": [200, 1000],
        "burst": {"1": {"alert": _leg(100.0, 1.0), "webhook": _leg(500.0, 1.0)}},
        "ours": {
            "200": {"alert": _leg(0, 0.004), "webhook": _leg(0, 0.01)},
            "1000": {"alert": _leg(0, 0.2), "webhook": _leg(0, 0.04)},
        },
        "alertmanager": {"200": {"webhook": _leg(0, 0.008)}},
        "rules": [
            {"rules": 10, "in_process": {"rate": 1000.0}, "e2e": {"rate": 40.0}},
            {"rules": 10000, "in_process": {"rate": 600.0}, "e2e": {"rate": 10.0}},
        ],
    }
    rows = {t["target"]: t for t in targets(result)}
    assert rows["burst → alert stored / raw kombu"]["missed_by"] == "4.0× short (75% below)"
    assert rows["burst → webhook delivered / raw kombu"]["met"]
    assert rows["p99 alert stored / Alertmanager p99, at 200/s"]["value"] == 0.5
    assert rows["p99 alert stored at 1000/s, ms"]["missed_by"] == "4.0× over (+150 ms)"
    assert rows["p99 webhook delivered at 1000/s, ms"]["met"]
    assert rows["10,000 rules / 10 rules, end to end"]["missed_by"] == "2.0× short (50% below)"
    assert rows["10,000 rules / 10 rules, in process"]["met"]
