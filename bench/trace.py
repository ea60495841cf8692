"""Where a paced run's latency goes: each service's batches and store commands.

    .venv/bin/python bench/trace.py --rate 100 --seconds 10

Starts the four services as the campaign does (``bench.campaign.Stack``: one replica
each, a fresh vhost and fresh databases, the stand-in webhook receiver) with
``BENCH_TRACE=1``, so each service writes every store command and every batch it ran
(bench/store_commands.py). After a warm-up it publishes ``--rate`` detractor events a
second for ``--seconds`` and prints:

* the latency from the publish to the alert stored and to the webhook delivered
  (p50, p90, p99, max), and per quarter second of the run, so a stall shows as a row;
* per service and queue: the batches (size), how long each ran from its start to its
  settlement, and how long its messages waited between arriving and their batch
  starting;
* per service, the store commands that took the most time in all (as the client saw
  them: the store's own work plus its queue).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVICES = ("alerts", "cases", "notify", "profiles")


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def spread(values: list[float]) -> str:
    return " ".join(
        f"{name} {quantile(values, q):.1f}" for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
    )


def run(rate: float, seconds: float) -> tuple[list[tuple[float, float, float]], dict[str, list[dict]], float]:
    os.environ["BENCH_TRACE"] = "1"
    from bench.campaign import HttpReceiver, Stack, signed_webhook_keys

    webhook = HttpReceiver(signed_webhook_keys)
    stack = Stack("127.0.0.1:5672", 1, webhook)
    try:
        stack.run(50, None, 9_000_000)  # warm-up: connections, caches
        wall = time.time()
        sent, start, _, alerts, hooks = stack.send(int(rate * seconds), rate, 0)
        rows = [
            (sent[i] - start, (alerts[i] - sent[i]) * 1000, (hooks.get(i, float("nan")) - sent[i]) * 1000)
            for i in sorted(sent)
            if i in alerts
        ]
        time.sleep(1.5)  # the services write their traces every half second
        traces = {}
        for service in SERVICES:
            path = stack.commands / f"{stack.pids(service)[0]}.trace"
            lines = path.read_text().splitlines() if path.exists() else []
            traces[service] = [json.loads(line) for line in lines if line]
        return rows, traces, wall
    finally:
        stack.close()
        webhook.close()


def report(rows: list[tuple[float, float, float]], traces: dict[str, list[dict]], wall: float) -> str:
    out = [f"{len(rows)} events"]
    out.append(
        f"publish → alert stored, ms: {spread([r[1] for r in rows])} max {max(r[1] for r in rows):.1f}"
    )
    out.append(
        f"publish → webhook, ms:      {spread([r[2] for r in rows])} max {max(r[2] for r in rows):.1f}"
    )
    out.append("\nper quarter second: events, alert stored median / max, webhook median / max (ms)")
    quarters: dict[int, list] = defaultdict(list)
    for at, alert, hook in rows:
        quarters[int(at * 4)].append((alert, hook))
    for k in sorted(quarters):
        q = quarters[k]
        a, h = [x[0] for x in q], [x[1] for x in q]
        alert, hook = f"{quantile(a, 0.5):6.0f} / {max(a):6.0f}", f"{quantile(h, 0.5):6.0f} / {max(h):6.0f}"
        out.append(f"{k / 4:6.2f} s {len(q):4d}   {alert}   {hook}")
    end = wall + max(r[0] for r in rows) + 1
    for service, entries in traces.items():
        window = [e for e in entries if wall <= e.get("at", e.get("start", 0)) <= end]
        batches, commands = [e for e in window if "batch" in e], [e for e in window if "cmd" in e]
        store_s = sum(c["ms"] for c in commands) / 1000
        out.append(
            f"\n{service}: {len(batches)} batches, {len(commands)} store commands, {store_s:.2f} s in store"
        )
        by_queue: dict[str, list[dict]] = defaultdict(list)
        for b in batches:
            by_queue[b["batch"]].append(b)
        for queue, runs in by_queue.items():
            ran = [(b["end"] - b["start"]) * 1000 for b in runs]
            waited = [(b["start"] - a) * 1000 for b in runs for a in b["arrived"]]
            out.append(f"  {queue}: size {spread([b['size'] for b in runs])}")
            out.append(f"    ran ms {spread(ran)}; waited ms {spread(waited)}")
        by_command: dict[str, list[float]] = defaultdict(list)
        for c in commands:
            by_command[f"{c['cmd']} {c['coll']}"].append(c["ms"])
        for name, took in sorted(by_command.items(), key=lambda kv: -sum(kv[1]))[:6]:
            out.append(f"    {name}: {len(took)} × ({spread(took)}) ms, {sum(took):.0f} ms in all")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(report(*run(args.rate, args.seconds)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
