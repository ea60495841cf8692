"""Rule evaluation at scale: events/s with 10, 1,000 and 10,000 rules, in process.

    PYTHONPATH=. .venv/bin/python bench/rules.py

The alerts engine (``Engine.process``) on in-memory state (``MemoryState``), no
database, over the sample stream's events (samples/feedback.jsonl), each given a
store (``customer.attributes.store``, one of 2,000) so that rules can be scoped
to stores as a franchise operator would write them. Every rule set is the seven
sample rules (samples/rules.yaml: global rules, some of them unindexable) plus
generated store rules of five kinds: low NPS at a store, complaint keywords at a
store, "3 complaints in 7 days" at a store (a count window on in-memory state),
low CSAT for a product at a store's touchpoint, and a group rule (a store's NPS
per touchpoint over a day, services/alerts/group_rules.py).

Reported per rule-set size: events/s through the rule index, the ratio to the
10-rule figure, the ratio to the raw kombu publish→consume baseline measured in
the same run (``bench.pipeline.baseline`` on a fresh vhost), and events/s
evaluating every rule (``RuleIndex(indexed=False)``, on fewer events) to show
what the index saves. Figures are never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import yaml

from bench.pipeline import baseline, drop_databases, drop_vhost, make_vhost, start_services
from contracts.feedback import parse_feedback
from cxctl.alerts import apply_rule_set
from cxctl.publish import FeedbackPublisher
from services.alerts.engine import Engine
from services.alerts.facts import Facts
from services.alerts.index import RuleIndex
from services.alerts.memory import MemoryState
from services.alerts.rules import load_rules
from textanalysis.text import analyze, warm_up

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 23, tzinfo=UTC)
STORES = 2000
SIZES = (10, 1_000, 10_000)
TOUCHPOINTS = ["delivery", "install", "support"]


def store(n: int) -> str:
    return f"S{n:05d}"


def events(stores: int) -> list[dict]:
    lines = (ROOT / "samples/feedback.jsonl").read_text("utf-8").splitlines()
    rng = random.Random(7)
    out = []
    for line in lines:
        event = parse_feedback(line)
        customer = event["customer"]
        customer["attributes"] = {**customer.get("attributes", {}), "store": store(rng.randrange(stores))}
        out.append(event)
    return sorted(out, key=lambda e: e["occurred_at"])


def generated(n: int, rng: random.Random, stores: int) -> dict:
    at = store(rng.randrange(stores))
    here = {"field": "customer.attributes.store", "op": "eq", "value": at}
    kind = n % 5
    if kind == 4:  # a group rule: the store's touchpoints, each judged on its day's NPS
        return {
            "id": f"store-{n:05d}",
            "name": f"门店 {at} 触点 NPS {n}",
            "level": "P2",
            "owner": {"kind": "team", "id": f"store-{at}"},
            "channels": ["email"],
            "when": here,
            "group": {
                "by": ["touchpoint"],
                "window": "1d",
                "score_below": {"score": "nps", "below": 0, "min_responses": 3},
            },
        }
    if kind == 0:
        when = {"all": [here, {"field": "scores.nps", "op": "lte", "value": rng.choice([4, 5, 6])}]}
    elif kind == 1:
        words = rng.sample(["退款", "投诉", "慢", "坏了", "态度差", "refund", "12315"], 2)
        when = {"all": [here, {"field": "text", "op": "contains_any", "value": words}]}
    elif kind == 2:
        complaint = {"all": [here, {"field": "category", "op": "eq", "value": "complaint"}]}
        window = {"count": {"at_least": 3, "within": "7d", "where": complaint}}
        when = {"all": [here, {"window": window}]}
    else:
        when = {
            "all": [
                here,
                {
                    "field": "touchpoint",
                    "op": "in",
                    "value": rng.sample(["delivery", "install", "support"], 2),
                },
                {"field": "customer.attributes.product", "op": "ne", "value": "空调"},
                {"field": "scores.csat", "op": "between", "value": [1, 2]},
            ]
        }
    return {
        "id": f"store-{n:05d}",
        "name": f"门店 {at} 规则 {n}",
        "level": rng.choice(["P2", "P3", "P4"]),
        "owner": {"kind": "team", "id": f"store-{at}"},
        "channels": ["email"],
        "when": when,
        "dedup": {"by": ["touchpoint"], "cooldown": "1d"},
    }


def rule_set(size: int, stores: int = STORES) -> list[dict]:
    samples = yaml.safe_load((ROOT / "samples/rules.yaml").read_text("utf-8"))["rules"]
    rng = random.Random(size)
    docs = samples[:size] + [generated(n, rng, stores) for n in range(size - min(size, len(samples)))]
    return [dict(r, version=1) for r in load_rules(docs)]


def rate(index: RuleIndex, stream: list[dict], repeat: int) -> dict:
    engine = Engine(MemoryState())
    evaluated = outcomes = 0
    started = time.perf_counter()
    for _ in range(repeat):
        engine.state = MemoryState()  # each pass starts afresh (windows, dedup)
        for event in stream:
            outcomes += len(engine.process(index, event, NOW))
    elapsed = time.perf_counter() - started
    for event in stream:
        facts = Facts(event, first_contact=lambda: True)
        evaluated += len(index.when.candidates(facts)) + len(index.grouped.candidates(facts))
    return {
        "events": len(stream) * repeat,
        "seconds": elapsed,
        "rate": len(stream) * repeat / elapsed,
        "outcomes": outcomes,
        "rules_evaluated_per_event": evaluated / len(stream),
    }


def raw_events(stores: int, run: str) -> list[str]:
    """The sample stream as published JSON, each event given a store and a fresh id."""
    rng = random.Random(7)
    out = []
    for line in (ROOT / "samples/feedback.jsonl").read_text("utf-8").splitlines():
        event = json.loads(line)
        event["event_id"] = f"{run}-{event['event_id']}"
        customer = event["customer"]
        customer["attributes"] = {**customer.get("attributes", {}), "store": store(rng.randrange(stores))}
        out.append(json.dumps(event, ensure_ascii=False))
    return out


def end_to_end(amqp_host: str, size: int, stores: int) -> dict:
    """The alerts service as a ``nameko run`` process on a fresh vhost and database
    with ``size`` rules; the sample stream published as fast as confirms allow. An
    event is done when alerts has recorded it in its history (after evaluation and
    any alert); rate = events / (last recorded − first publish)."""
    import pymongo
    from nameko.exceptions import UnknownService
    from nameko.standalone.rpc import ClusterRpcClient

    vhost = make_vhost()
    amqp_uri = f"pyamqp://guest:guest@{amqp_host}/{vhost}"
    prefix = f"benchrules{uuid.uuid4().hex[:6]}_"
    env = dict(os.environ, AMQP_URI=amqp_uri, MONGO_DB_PREFIX=prefix, LOG_LEVEL="WARNING")
    client = pymongo.MongoClient(os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"))
    history = client[f"{prefix}alerts"].history
    procs = start_services(env, ("alerts",))
    try:
        docs = yaml.safe_load((ROOT / "samples/rules.yaml").read_text("utf-8"))["rules"]
        rng = random.Random(size)
        docs = docs[:size] + [generated(n, rng, stores) for n in range(size - min(size, len(docs)))]
        with ClusterRpcClient(uri=amqp_uri, timeout=600) as rpc:
            for attempt in range(120):  # until the service answers
                try:
                    rpc.alerts.stats()
                    break
                except UnknownService:
                    if attempt == 119:
                        raise
                    time.sleep(0.5)
            applied = time.perf_counter()
            apply_rule_set(rpc.alerts.apply_rules, {"rules": docs})  # in batches: RPC_MAX_BYTES
            apply_s = time.perf_counter() - applied
            bodies = raw_events(stores, uuid.uuid4().hex[:6])
            loaded = time.perf_counter()
            rpc.alerts.simulate(json.loads(bodies[0]))  # loads and indexes the rules (once per change)
            load_s = time.perf_counter() - loaded
        with FeedbackPublisher(amqp_uri) as publisher:
            start = time.perf_counter()
            for body in bodies:
                publisher.publish(body)
        deadline = time.monotonic() + 600
        recorded = 0
        while time.monotonic() < deadline:
            recorded = history.count_documents({})
            if recorded >= len(bodies):
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        return {
            "events": len(bodies),
            "recorded": recorded,
            "rate": recorded / elapsed,
            "apply_s": apply_s,
            "load_s": load_s,
        }
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        drop_vhost(vhost)
        drop_databases(prefix)


def main() -> int:
    parser = argparse.ArgumentParser(
        description="rule evaluation at scale (ratios to 10 rules and raw kombu)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="passes over the 400 sample events")
    parser.add_argument("--stores", type=int, default=STORES, help="stores the events and rules spread over")
    parser.add_argument("--baseline-messages", type=int, default=5000)
    parser.add_argument("--amqp-host", default="127.0.0.1:5672")
    parser.add_argument(
        "--no-e2e", action="store_true", help="skip the runs through the alerts service on broker and store"
    )
    args = parser.parse_args()

    warm_up()
    stream = events(args.stores)
    for event in stream:  # text analysis is cached per text: pay it before any timing
        if event.get("text"):
            analyze(event["text"])

    vhost = make_vhost()
    try:
        base = baseline(f"pyamqp://guest:guest@{args.amqp_host}/{vhost}", args.baseline_messages)
    finally:
        drop_vhost(vhost)

    runs = {}
    for size in SIZES:
        rules = rule_set(size, args.stores)
        built = time.perf_counter()
        index = RuleIndex(rules)
        build_s = time.perf_counter() - built
        indexed = rate(index, stream, args.repeat)
        brute = rate(RuleIndex(rules, indexed=False), stream[:: max(1, size // 100)], 1)
        runs[size] = {
            "rules": size,
            "build_s": build_s,
            **index.stats(),
            "indexed": indexed,
            "brute": brute,
        }
        if not args.no_e2e:
            runs[size]["e2e"] = end_to_end(args.amqp_host, size, args.stores)

    ten = runs[SIZES[0]]["indexed"]["rate"]
    ten_e2e = runs[SIZES[0]].get("e2e", {}).get("rate")
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}",
        "stores": args.stores,
        "baseline": base,
        "runs": list(runs.values()),
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"rules-{result['when'].replace(':', '')}.json").write_text(json.dumps(result, indent=2))
    print(result["machine"], f"{args.stores} stores")
    print(
        "| rules | always evaluated | rules evaluated per event | events/s (indexed) | ratio to 10 rules "
        "| ratio to baseline | events/s (every rule evaluated) | index build |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(f"| baseline: raw kombu publish→consume | | | {base['rate']:.0f} | | 1.000 | | |")
    for run in runs.values():
        r = run["indexed"]
        print(
            f"| {run['rules']:,} | {run['always']} | {r['rules_evaluated_per_event']:.1f} | "
            f"{r['rate']:,.0f} | "
            f"{r['rate'] / ten:.2f} | {r['rate'] / base['rate']:.2f} | {run['brute']['rate']:,.0f} | "
            f"{run['build_s'] * 1000:.0f} ms |"
        )
    if ten_e2e:
        print()
        print(
            "| rules | events | recorded | events/s end to end | ratio to 10 rules "
            "| ratio to baseline | apply | load + index |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for run in runs.values():
            e = run["e2e"]
            print(
                f"| {run['rules']:,} | {e['events']} | {e['recorded']} | {e['rate']:,.1f} | "
                f"{e['rate'] / ten_e2e:.2f} | {e['rate'] / base['rate']:.3f} | "
                f"{e['apply_s']:.1f} s | {e['load_s']:.1f} s |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
