"""Where a lone event's latency goes: every store command on its way, in time order.

    .venv/bin/python bench/hops.py --events 12 --gap 1.0

Runs the four services in this process (one nameko ServiceRunner, a fresh vhost and
fresh databases, as bench/roundtrips.py), publishes detractor events one at a time
with ``--gap`` seconds between them (so each finds the pipeline idle, as at 10/s),
and records each store command the services send with its start time and duration
(pymongo CommandListener). It prints, for the median event, the timeline from the
publish: each command's start (ms after the publish), its duration, service,
command and collection; then per service the median time from the publish to its
first and last command, the sum of its command durations and the count. The gaps
between one service's last command and the next one's first are the broker hop
plus the batch's own work outside the store (parse, evaluate, render, confirms).
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402  (nameko in-process: before sockets are imported)

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

import pymongo  # noqa: E402
from pymongo import monitoring  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVICES = ("alerts", "cases", "profiles", "notify")


class Timeline(monitoring.CommandListener):
    """(start, duration, database, command, collection) of every command while ``on``."""

    def __init__(self):
        self.rows: list[list] = []
        self.open: dict[int, list] = {}
        self.on = False

    def started(self, event):
        if self.on:
            target = event.command.get(event.command_name)
            row = [time.perf_counter(), None, event.database_name, event.command_name,
                   target if isinstance(target, str) else "-"]  # fmt: skip
            self.open[event.request_id] = row
            self.rows.append(row)

    def succeeded(self, event):
        row = self.open.pop(event.request_id, None)
        if row is not None:
            row[1] = event.duration_micros / 1000

    failed = succeeded


TIMELINE = Timeline()
monitoring.register(TIMELINE)

from nameko import config  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.rpc import ClusterRpcClient  # noqa: E402

from bench.pipeline import drop_vhost, feedback, make_vhost  # noqa: E402
from bench.roundtrips import RULES, stack_settings  # noqa: E402
from cxctl.publish import FeedbackPublisher  # noqa: E402
from services.alerts.service import AlertsService  # noqa: E402
from services.cases.service import CasesService  # noqa: E402
from services.notify.service import NotifyService  # noqa: E402
from services.profiles.service import ProfilesService  # noqa: E402


def service_of(database: str, prefix: str) -> str:
    return database.removeprefix(prefix)


def per_event(rows: list[list], published: list[float], prefix: str) -> list[list[list]]:
    """The commands sent between each publish and the next one, times made relative."""
    out = []
    for i, at in enumerate(published):
        until = published[i + 1] if i + 1 < len(published) else float("inf")
        out.append([[r[0] - at, *r[1:]] for r in rows if at <= r[0] < until and r[2].startswith(prefix)])
    return out


def summary(events: list[list[list]], prefix: str) -> list[str]:
    lines = ["| service | first command (ms after publish) | last command ends | in the store | commands |",
             "|---|---|---|---|---|"]  # fmt: skip
    for service in SERVICES:
        firsts, lasts, spent, counts = [], [], [], []
        for rows in events:
            mine = [r for r in rows if service_of(r[2], prefix) == service and r[1] is not None]
            if mine:
                firsts.append(mine[0][0] * 1000)
                lasts.append(max(r[0] * 1000 + r[1] for r in mine))
                spent.append(sum(r[1] for r in mine))
                counts.append(len(mine))
        if firsts:
            lines.append(
                f"| {service} | {statistics.median(firsts):.1f} | {statistics.median(lasts):.1f} "
                f"| {statistics.median(spent):.1f} | {statistics.median(counts):.0f} |"
            )
    return lines


def run(args, mongo_uri: str, prefix: str, patch: dict) -> list[float]:
    with ClusterRpcClient(timeout=30) as rpc:
        rpc.alerts.apply_rules(RULES)
        owner = {"id": "bench.owner", "name": "Bench", "email": "b@example.com"}
        rpc.notify.apply_recipients({"people": [owner]})
    published = []
    tag = uuid.uuid4().hex[:6]
    with FeedbackPublisher(patch["AMQP_URI"]) as publisher:
        publisher.publish(feedback(10_000, tag))  # warms every path (caches, indexes) before timing
        eventlet.sleep(args.gap * 2)
        TIMELINE.on = True
        for i in range(args.events):
            published.append(time.perf_counter())
            publisher.publish(feedback(i, tag))
            eventlet.sleep(args.gap)
        eventlet.sleep(args.gap)
        TIMELINE.on = False
    return published


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=12)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between events")
    args = parser.parse_args()
    mongo_uri = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")
    vhost, prefix = make_vhost(), f"hp{uuid.uuid4().hex[:6]}_"
    patch = stack_settings(mongo_uri, vhost, prefix)
    with config.patch(patch):
        runner = ServiceRunner()
        for cls in (AlertsService, CasesService, ProfilesService, NotifyService):
            runner.add_service(cls)
        runner.start()
        try:
            published = run(args, mongo_uri, prefix, patch)
        finally:
            runner.kill()
            drop_vhost(vhost)
            client = pymongo.MongoClient(mongo_uri)
            for service in SERVICES:
                client.drop_database(f"{prefix}{service}")
    events = per_event(TIMELINE.rows, published, prefix)
    ends = [max((r[0] * 1000 + (r[1] or 0) for r in rows), default=0) for rows in events]
    middle = sorted(range(len(events)), key=lambda i: ends[i])[len(events) // 2]
    print(f"{len(events)} lone events, {args.gap:g} s apart; last store command ends (ms): "
          f"median {statistics.median(ends):.1f}, min {min(ends):.1f}, max {max(ends):.1f}\n")  # fmt: skip
    print("\n".join(summary(events, prefix)))
    print(f"\nThe median event ({ends[middle]:.1f} ms), command by command:\n")
    print("| start ms | took ms | service | command | collection |\n|---|---|---|---|---|")
    for start, took, db, cmd, coll in events[middle]:
        spent = "?" if took is None else f"{took:.1f}"
        print(f"| {start * 1000:.1f} | {spent} | {service_of(db, prefix)} | {cmd} | {coll} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
