"""Pipeline benchmark: every figure is a ratio to a baseline measured in the same run.

    .venv/bin/python bench/pipeline.py --events 300

1. **Baseline**: raw kombu, persistent + confirmed publishes of feedback-sized
   bodies to a fresh queue on the same broker, consumed with acks; rate =
   messages / (last consume − first publish).
2. **Pipeline, burst**: the four services run as separate ``nameko run``
   processes against a fresh vhost and fresh databases; N detractor events (one
   customer each, one matching rule, one recipient) are published as fast as
   confirms allow; each is done when its email reaches a real SMTP server in
   this process. Rate = N / (last email − first publish); latency per event =
   email received − published.
3. **Pipeline, paced**: the same at a fixed publish rate, for latency when
   the pipeline is not saturated.

Results go to stdout (a markdown table) and ``bench/results/<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import requests
from aiosmtpd.controller import Controller
from kombu import Connection, Exchange, Producer, Queue

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv running the benchmark
sys.path.insert(0, str(ROOT))

from cxctl.publish import FeedbackPublisher  # noqa: E402

API = os.environ.get("RABBIT_API_URI", "http://127.0.0.1:15672")
AUTH = ("guest", "guest")
MARK = re.compile(r"bench-(\d+)")


def feedback(n: int, run: str) -> bytes:
    return json.dumps(
        {
            "schema_version": 1,
            "event_id": f"{run}-{n}",
            "source": "bench",
            "occurred_at": datetime.now(UTC).isoformat(),
            "customer": {"id": f"B{n}", "name": "压测客户", "tier": "standard"},
            "channel": "app",
            "touchpoint": "delivery",
            "scores": {"nps": 2},
            "text": f"bench-{n} 送货太慢，客服电话一直占线，非常不满意",
        },
        ensure_ascii=False,
    ).encode("utf-8")


class Inbox:
    """aiosmtpd handler: records when each benchmark email arrives."""

    def __init__(self):
        self.received: dict[int, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        now = time.perf_counter()
        msg = message_from_bytes(envelope.content, policy=policy.default)
        match = MARK.search(msg.get_body(("plain",)).get_content())
        if match:
            with self.lock:
                self.received.setdefault(int(match.group(1)), now)
        return "250 OK"


# The one rule of the pipeline benchmarks (channels added per run): every benchmark event matches.
BENCH_RULE = {
    "id": "bench-detractor",
    "name": "压测 / bench",
    "level": "P2",
    "owner": {"kind": "person", "id": "bench.owner"},
    "when": {
        "all": [
            {"field": "source", "op": "eq", "value": "bench"},
            {"field": "scores.nps", "op": "lte", "value": 6},
        ]
    },
}


def make_vhost() -> str:
    vhost = f"cx-bench-{uuid.uuid4().hex[:8]}"
    requests.put(f"{API}/api/vhosts/{vhost}", auth=AUTH, timeout=10).raise_for_status()
    requests.put(
        f"{API}/api/permissions/{vhost}/guest",
        auth=AUTH,
        timeout=10,
        json={"configure": ".*", "write": ".*", "read": ".*"},
    ).raise_for_status()
    return vhost


def drop_vhost(vhost: str) -> None:
    requests.delete(f"{API}/api/vhosts/{vhost}", auth=AUTH, timeout=10)


def drop_databases(prefix: str, attempts: int = 5, uri: str | None = None) -> None:
    """Drop the run's databases; the shared embedded server now and then answers
    "disk I/O error" (docs/store.md), so retry, and warn rather than lose a run's results."""
    import pymongo

    client = pymongo.MongoClient(uri or os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"))
    for attempt in range(attempts):
        try:
            for name in client.list_database_names():
                if name.startswith(prefix):
                    client.drop_database(name)
            return
        except pymongo.errors.OperationFailure as exc:
            if attempt == attempts - 1:
                print(f"warning: databases {prefix}* not dropped: {exc}", file=sys.stderr)
            time.sleep(1)


def baseline(amqp_uri: str, n: int) -> dict:
    body = feedback(0, "baseline")
    exchange = Exchange("bench.baseline", type="topic", durable=True)
    queue = Queue(f"bench.baseline.{uuid.uuid4().hex[:6]}", exchange=exchange, routing_key="#", durable=True)
    done = threading.Event()
    consumed = []

    def consume():
        with Connection(amqp_uri) as conn:

            def on_message(body, message):
                message.ack()
                consumed.append(time.perf_counter())
                if len(consumed) >= n:
                    done.set()

            with conn.Consumer(queue, callbacks=[on_message], accept=["json"]) as consumer:
                consumer.qos(prefetch_count=10)
                while not done.is_set():
                    try:
                        conn.drain_events(timeout=1)
                    except TimeoutError:
                        pass

    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        queue(conn.default_channel).declare()
        thread = threading.Thread(target=consume, daemon=True)
        thread.start()
        time.sleep(0.5)
        producer = Producer(conn.default_channel, exchange=exchange)
        start = time.perf_counter()
        for _ in range(n):
            producer.publish(
                body,
                routing_key="feedback.app",
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
            )
        published = time.perf_counter()
        done.wait(120)
        queue(conn.default_channel).delete()
    return {"messages": n, "publish_rate": n / (published - start), "rate": n / (consumed[-1] - start)}


def percentiles(values: list[float]) -> dict:
    qs = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": qs[49], "p95": qs[94], "p99": qs[98], "max": max(values)}


def start_services(
    env: dict,
    services=("alerts", "cases", "profiles", "notify"),
    replicas: int = 1,
    module: Callable[[str], str] = lambda service: f"services.{service}.service",
    launcher: list[str] | None = None,
    log_name: str = "bench",
) -> list[subprocess.Popen]:
    """``replicas`` ``nameko run`` processes per service (competing consumers), each
    told its ``REPLICA_INDEX`` of ``REPLICA_COUNT``; ``proc.args[-1]`` is ``module(service)``.
    ``launcher`` replaces the ``nameko`` command (it must take nameko's arguments); logs go
    to ``var/log/<log_name>-<service>.log``."""
    procs = []
    log_dir = ROOT / "var" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    command = launcher or [str(BIN / "nameko")]
    for service in services:
        for index in range(replicas):
            name = service if replicas == 1 else f"{service}-{index}"
            log = open(log_dir / f"{log_name}-{name}.log", "w")  # noqa: SIM115 - lives with the process
            procs.append(
                subprocess.Popen(
                    [*command, "run", "--config", str(ROOT / "deploy/config.yaml"), module(service)],
                    cwd=ROOT,
                    env=dict(env, REPLICA_INDEX=str(index), REPLICA_COUNT=str(replicas)),
                    stdout=log,
                    stderr=log,
                )
            )
    return procs


def rpc_ready(amqp_uri: str, timeout: float = 60) -> None:
    cmd = [str(BIN / "cxctl"), "--amqp-uri", amqp_uri, "--timeout", "3", "stats"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if subprocess.run(cmd, capture_output=True).returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError("services did not answer")


def configure(amqp_uri: str, channels: tuple[str, ...] = ("email",), webhook: dict | None = None) -> None:
    """One rule matching every benchmark event, owned by one recipient. ``webhook``
    (a generic webhook handle: url, secret, rate) is that recipient's webhook."""
    cx = [str(BIN / "cxctl"), "--amqp-uri", amqp_uri]
    rules = ROOT / "var" / "bench-rules.json"
    rules.write_text(json.dumps({"rules": [{**BENCH_RULE, "channels": list(channels)}]}))
    people = ROOT / "var" / "bench-recipients.json"
    owner = {"id": "bench.owner", "name": "Bench", "email": "bench@example.com"}
    if webhook:
        owner["handles"] = {"webhook": webhook}
    people.write_text(json.dumps({"people": [owner]}))
    subprocess.run(cx + ["rules", "apply", str(rules)], check=True, capture_output=True)
    subprocess.run(cx + ["recipients", "apply", str(people)], check=True, capture_output=True)


def pipeline_run(amqp_uri: str, inbox: Inbox, n: int, offset: int, rate: float | None) -> dict:
    run = uuid.uuid4().hex[:6]
    sent: dict[int, float] = {}
    with FeedbackPublisher(amqp_uri) as publisher:
        start = time.perf_counter()
        for i in range(offset, offset + n):
            if rate:
                wait = start + (i - offset) / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            sent[i] = time.perf_counter()
            publisher.publish(feedback(i, run))
    deadline = time.monotonic() + max(120, n * 0.5)
    while time.monotonic() < deadline:
        with inbox.lock:
            if all(i in inbox.received for i in sent):
                break
        time.sleep(0.2)
    with inbox.lock:
        got = {i: inbox.received[i] for i in sent if i in inbox.received}
    latencies = [got[i] - sent[i] for i in got]
    out = {
        "events": n,
        "delivered": len(got),
        "rate": len(got) / (max(got.values()) - start) if got else 0.0,
        "latency_s": percentiles(latencies) if len(latencies) > 1 else {},
    }
    if rate:
        out["offered_rate"] = rate
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="pipeline benchmark (ratios to raw kombu)")
    parser.add_argument("--events", type=int, default=300, help="events per pipeline run")
    parser.add_argument("--baseline-messages", type=int, default=5000)
    parser.add_argument("--paced-rate", type=float, default=10.0, help="events/s, paced run")
    parser.add_argument("--amqp-host", default="127.0.0.1:5672")
    args = parser.parse_args()

    vhost = make_vhost()
    amqp_uri = f"pyamqp://guest:guest@{args.amqp_host}/{vhost}"
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        smtp_port = probe.getsockname()[1]
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    env = dict(
        os.environ,
        AMQP_URI=amqp_uri,
        MONGO_DB_PREFIX=f"bench{uuid.uuid4().hex[:6]}_",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        LOG_LEVEL="WARNING",
    )
    procs = []
    try:
        base = baseline(amqp_uri, args.baseline_messages)
        procs = start_services(env)
        rpc_ready(amqp_uri)
        configure(amqp_uri)
        pipeline_run(amqp_uri, inbox, 20, 0, None)  # warm-up: connections, caches
        burst = pipeline_run(amqp_uri, inbox, args.events, 1000, None)
        paced = pipeline_run(amqp_uri, inbox, max(50, args.events // 3), 100000, args.paced_rate)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        smtp.stop()
        drop_vhost(vhost)
        import pymongo

        client = pymongo.MongoClient(os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"))
        for name in client.list_database_names():
            if name.startswith(env["MONGO_DB_PREFIX"]):
                client.drop_database(name)

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}",
        "baseline": base,
        "burst": burst,
        "paced": paced,
        "ratios": {
            "burst_rate_vs_baseline": burst["rate"] / base["rate"],
            "paced_rate_vs_offered": paced["rate"] / args.paced_rate,
        },
    }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"{result['when'].replace(':', '')}.json").write_text(json.dumps(result, indent=2))
    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    print("| run | events | delivered | rate (ev/s) | ratio to baseline | p50 | p95 | p99 |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| baseline: raw kombu publish→consume | {base['messages']} | {base['messages']} | "
        f"{base['rate']:.0f} | 1.000 | | | |"
    )
    for name, r in (
        ("pipeline, burst (publish → email)", burst),
        (f"pipeline, paced at {args.paced_rate:g}/s", paced),
    ):
        lat = r["latency_s"]
        print(
            f"| {name} | {r['events']} | {r['delivered']} | {r['rate']:.1f} | "
            f"{r['rate'] / base['rate']:.4f} | {ms(lat['p50'])} | {ms(lat['p95'])} | "
            f"{ms(lat['p99'])} |"
        )
    ok = burst["delivered"] == burst["events"] and paced["delivered"] == paced["events"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
