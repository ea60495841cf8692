"""Where the pipeline's time goes: MongoDB round trips per feedback event, per service.

    .venv/bin/python bench/roundtrips.py --events 200

Runs the four services in this process (one nameko ServiceRunner, a fresh
vhost and fresh databases), counts every command each service sends to
MongoDB with a pymongo CommandListener, publishes N detractor events (one
matching rule, one recipient, the SMTP port closed so notify fails fast and
records it), waits until each is evaluated, and prints commands per event by
service and command name, next to the store's single-round-trip rate measured
in the same run. commands/event ÷ round trips/s is the ceiling the store puts
on events/s when nothing is batched.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402  (nameko in-process: before sockets are imported)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import pymongo  # noqa: E402
from pymongo import monitoring  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class Counts(monitoring.CommandListener):
    def __init__(self):
        self.by = Counter()
        self.lock = threading.Lock()
        self.on = False

    def started(self, event):
        if self.on:
            with self.lock:
                target = event.command.get(event.command_name)
                collection = target if isinstance(target, str) else "-"
                self.by[(event.database_name, event.command_name, collection)] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


COUNTS = Counts()
monitoring.register(COUNTS)

from nameko import config  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.rpc import ClusterRpcClient  # noqa: E402

from bench.pipeline import drop_vhost, feedback, make_vhost  # noqa: E402
from cxctl.publish import FeedbackPublisher  # noqa: E402
from services.alerts.service import AlertsService  # noqa: E402
from services.cases.service import CasesService  # noqa: E402
from services.notify.service import NotifyService  # noqa: E402
from services.profiles.service import ProfilesService  # noqa: E402

RULES = {
    "rules": [
        {
            "id": "bench-detractor",
            "name": "压测 / bench",
            "level": "P2",
            "owner": {"kind": "person", "id": "bench.owner"},
            "channels": ["email"],
            "when": {"field": "scores.nps", "op": "lte", "value": 6},
        }
    ]
}


def stack_settings(mongo_uri: str, vhost: str, prefix: str) -> dict:
    """The four services' settings for a bench run on a fresh vhost and databases: one
    matching rule's email goes to a closed SMTP port (notify records a failed attempt)."""
    return {
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}",
        "MONGO_URI": mongo_uri,
        "MONGO_DB_PREFIX": prefix,
        "SMTP_PORT": 9,  # closed: notify records a failed attempt, sends nothing
        "NOTIFY_MAX_ATTEMPTS": 1,
        "NOTIFY_FALLBACK_CHANNEL": "none",
    }


def store_round_trips(uri: str, n: int = 500) -> float:
    client = pymongo.MongoClient(uri)
    db = client[f"rt{uuid.uuid4().hex[:6]}"]
    db.t.insert_one({"_id": 0})
    start = time.perf_counter()
    for _ in range(n):
        db.t.find_one({"_id": 0})
    rate = n / (time.perf_counter() - start)
    client.drop_database(db.name)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200)
    args = parser.parse_args()
    mongo_uri = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")
    vhost = make_vhost()
    prefix = f"rt{uuid.uuid4().hex[:6]}_"
    patch = stack_settings(mongo_uri, vhost, prefix)
    rtt = store_round_trips(mongo_uri)
    with config.patch(patch):
        runner = ServiceRunner()
        for cls in (AlertsService, CasesService, ProfilesService, NotifyService):
            runner.add_service(cls)
        runner.start()
        try:
            with ClusterRpcClient(timeout=30) as rpc:
                rpc.alerts.apply_rules(RULES)
                rpc.notify.apply_recipients(
                    {"people": [{"id": "bench.owner", "name": "Bench", "email": "bench@example.com"}]}
                )
            client = pymongo.MongoClient(mongo_uri)
            inbox = client[f"{prefix}alerts"].feedback_inbox
            cases = client[f"{prefix}cases"].cases
            COUNTS.on = True
            start = time.perf_counter()
            run = uuid.uuid4().hex[:6]
            with FeedbackPublisher(patch["AMQP_URI"]) as publisher:
                for i in range(args.events):
                    publisher.publish(feedback(i, run))
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                if (
                    inbox.count_documents({"state": "done"}) >= args.events
                    and cases.count_documents({}) >= args.events
                ):
                    break
                eventlet.sleep(0.5)
            eventlet.sleep(5)  # let notify finish its attempts
            elapsed = time.perf_counter() - start
            COUNTS.on = False
        finally:
            runner.kill()
            drop_vhost(vhost)
            for name in pymongo.MongoClient(mongo_uri).list_database_names():
                if name.startswith(prefix):
                    pymongo.MongoClient(mongo_uri).drop_database(name)

    n = args.events
    per_service = Counter()
    for (db, _cmd, _coll), count in COUNTS.by.items():
        per_service[db.removeprefix(prefix)] += count
    total = sum(per_service.values())
    print(f"store: {rtt:.0f} single round trips/s; {n} events in {elapsed:.1f} s ({n / elapsed:.1f} ev/s)\n")
    print("| service | commands/event |\n|---|---|")
    for service, count in per_service.most_common():
        print(f"| {service} | {count / n:.1f} |")
    print(f"| **all** | **{total / n:.1f}** |\n")
    print(f"ceiling from round trips alone: {rtt / (total / n):.1f} ev/s\n")
    print("| service | command | collection | per event |\n|---|---|---|---|")
    for (db, cmd, coll), count in sorted(COUNTS.by.items(), key=lambda kv: -kv[1])[:40]:
        print(f"| {db.removeprefix(prefix)} | {cmd} | {coll} | {count / n:.2f} |")
    print(json.dumps({"events": n, "elapsed": elapsed, "rtt_per_s": rtt, "commands_per_event": total / n}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
