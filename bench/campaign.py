"""Benchmark campaign (issues 11 and 16): every figure of the comparison, in one run.

    .venv/bin/python bench/campaign.py                  # the tables and chart in docs/benchmarks.md
    .venv/bin/python bench/campaign.py --profile        # the same, plus py-spy on the services and the store
    .venv/bin/python bench/campaign.py --store-threaded # plus the store modes (default vs --threaded)

Everything is measured in the same run on the same machine, in this order:

1. **Baseline**: raw kombu publish→consume rate on the same broker
   (``bench.pipeline.baseline``: persistent, confirmed, acked, feedback-sized).
2. **Ours, 1 replica per service** (alerts, cases, profiles, notify as ``nameko
   run`` processes, fresh vhost and databases). One rule matches every benchmark
   event; its owner's generic signed webhook (``channels: [webhook]``, the
   handle stating the receiver's own rate) points at an HTTP receiver in this
   process, which verifies the signature and maps the body's
   ``context.event.event_id`` back to the published event. Two arrival times per
   event: ``alert_raised`` (dispatched after the alert is stored) reaching a
   listener on the alerts service's event exchange ("alert stored"), and the
   webhook POST reaching the receiver ("webhook delivered"; the case opened,
   assigned, notification rendered, signed and sent).
   - burst: N events as fast as confirms allow; rate = N / (last arrival −
     first publish). Around it: the CPU time of every process (``/proc``); the
     broker's deliveries to each queue (management API ``message_stats.deliver_get``,
     read when two reads 5.5 s apart agree, before and after), per event; the
     store commands per event, by service (each service runs under
     ``bench/store_commands.py``, ``nameko run`` with a pymongo command listener;
     the idle rate of the timers, measured just before, is taken out);
   - paced at each offered rate (10, 100, 200, 500, 1,000 events/s by default) for
     ``--seconds``: latency per event = arrival − publish started, p50/p95/p99;
   - RSS of every service process, then the store footprint per profile and per
     open case (``bench/footprint.py``: the run's real documents copied with
     distinct ids into a scratch database, ``dbStats`` read, extrapolated to 1M
     profiles / 100k open cases);
   - with ``--profile``: one more burst (not counted) under py-spy on the four
     services' processes and the store, top frames written to ``bench/results/``.
3. **Topology floor** (``bench/floor.py``): the same four services' message
   topology (same names, queues, routing keys, entrypoint classes, batches and
   dispatcher) with handlers that only parse, validate and dispatch, no store and
   no logic; notify still POSTs the signed webhook. The same burst, measured the
   same way: the ceiling nameko + RabbitMQ give this flow here.
4. **Ours, 2 replicas per service**: fresh vhost and databases, the same burst.
5. **Store modes** (``--store-threaded``): the same burst on two private nx-27017
   servers on free ports (the shared one untouched, their per-command log
   discarded), its default asyncio mode and ``--threaded``: rates and store CPU
   per event side by side.
6. **Prometheus Alertmanager** (Debian's ``prometheus-alertmanager``, installed
   when missing), tuned to its fastest (``group_by: ['...']``, ``group_wait:
   0s``), one alert per POST to ``/api/v2/alerts`` at the same offered rates;
   latency = webhook received in this process − POST started.
7. **Rules scaling**: 10 / 1,000 / 10,000 rules (``bench/rules.py``), in process
   on in-memory state and end to end through the alerts service; each as a
   ratio to the 10-rule rate.

Printed: the tables (every rate as a ratio to the baseline, bursts also to the
floor) and the targets of issue 16 (and issue 11's rules scaling) with how far
each is missed. Written: ``bench/results/campaign-<time>.json`` and the chart
(``--chart``, default docs/bench-campaign.png; matplotlib from the ``bench``
extra, installed when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from kombu import Connection, Exchange, Queue

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pipeline import (  # noqa: E402
    API,
    AUTH,
    baseline,
    configure,
    drop_databases,
    drop_vhost,
    feedback,
    make_vhost,
    percentiles,
    rpc_ready,
    start_services,
)
from cxctl.broker import wait_queues_idle  # noqa: E402
from cxctl.publish import FeedbackPublisher  # noqa: E402

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
STORE_SERVER = ROOT / ".venv-mongo" / "bin" / "nx-27017"
MONGO_URI = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")


# -- CPU per process -------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (/proc), None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_text(pid: int | str, name: str) -> str:
    """``/proc/<pid>/<name>`` (cmdline, environ) with NULs as spaces; "" when unreadable."""
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


def pids_matching(*needles: str) -> list[int]:
    """Live processes whose command line holds every needle."""
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and all(n in proc_text(entry.name, "cmdline") for n in needles)
    ]


def shared_processes() -> dict[str, list[int]]:
    """The store and the broker the stack uses: the nx-27017 serving MONGO_URI's port
    and RabbitMQ's default node (private test nodes carry their own RABBITMQ_NODENAME)."""
    from pymongo.uri_parser import parse_uri

    port = parse_uri(MONGO_URI)["nodelist"][0][1]
    store = pids_matching("nx-27017", f"-p {port} ")  # cmdline arguments end in a space here
    nodes = pids_matching("beam.smp", "rabbit")
    broker = [p for p in nodes if "RABBITMQ_NODENAME" not in proc_text(p, "environ")]
    return {"store (nx-27017)": store, "broker (RabbitMQ)": broker[:1], "benchmark": [os.getpid()]}


class CpuMeter:
    """CPU seconds each group of processes spends between ``__init__`` and ``stop()``."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups
        self.wall = time.perf_counter()
        self.before = {pid: cpu_seconds(pid) for pids in groups.values() for pid in pids}

    def stop(self) -> dict:
        wall = time.perf_counter() - self.wall
        spent = {}
        for name, pids in self.groups.items():
            total = 0.0
            for pid in pids:
                start, end = self.before.get(pid), cpu_seconds(pid)
                if start is not None and end is not None:
                    total += end - start
            spent[name] = total
        return {"wall_s": wall, "cpu_s": spent}


RESULTS = ROOT / "bench" / "results"
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
# The receiver's own capacity (the handle's ``rate``): our default for unknown
# receivers (600/min) would otherwise be what the benchmark measures.
WEBHOOK_RATE = {"per_minute": 600_000, "burst": 10_000}
TARGET_P99_S = 0.050
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.0f} s] {message}", file=sys.stderr, flush=True)


def ensure_bench_extra(profile: bool) -> None:
    """Install the ``bench`` extra's pinned packages (pyproject.toml) when missing."""
    needed = []
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        needed.append("matplotlib")
    if profile and not (Path(sys.executable).parent / "py-spy").exists() and not shutil.which("py-spy"):
        needed.append("py-spy")
    if not needed:
        return
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["bench"]
    wanted = [p for p in pins if re.split(r"[=<>!~ ]", p, maxsplit=1)[0] in needed]
    log(f"installing {' '.join(wanted)}")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *wanted], check=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- measuring -----------------------------------------------------------------


def paced(n: int, rate: float | None, send: Callable[[int], None]) -> tuple[dict[int, float], float, float]:
    """Call send(i) n times at ``rate``/s (as fast as possible when None).

    Returns the send time of each i, the start and the end of sending.
    """
    sent: dict[int, float] = {}
    start = time.perf_counter()
    for i in range(n):
        if rate:
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        sent[i] = time.perf_counter()
        send(i)
    return sent, start, time.perf_counter()


def arrivals(sent: dict[int, float], got: dict[int, float], start: float) -> dict:
    """Delivered count, rate (delivered / (last arrival − first send)) and latency percentiles."""
    latencies = [got[i] - sent[i] for i in got if i in sent]
    return {
        "delivered": len(got),
        "rate": len(got) / (max(got.values()) - start) if got else 0.0,
        "latency_s": percentiles(latencies) if len(latencies) > 1 else {},
    }


class Arrivals:
    """First arrival time per key, shared by the receiving threads."""

    def __init__(self):
        self.got: dict[str, float] = {}
        self.lock = threading.Lock()

    def record(self, keys: Iterable[str], now: float) -> None:
        with self.lock:
            for key in keys:
                self.got.setdefault(key, now)

    def of(self, wanted: dict[str, int]) -> dict[int, float]:
        with self.lock:
            return {wanted[k]: t for k, t in self.got.items() if k in wanted}


class Server(ThreadingHTTPServer):
    # The stand-in receiver must never be what refuses a send: http.server's listen
    # backlog of 5 overflowed under a burst of concurrent sends (the kernel dropped
    # accepted connections: "Remote end closed connection without response"), and
    # the benchmark runs with one attempt per delivery.
    request_queue_size = 1024
    daemon_threads = True


class HttpReceiver:
    """A local HTTP endpoint; ``keys(headers, body)`` names what a POST delivered
    (raising ValueError rejects it with 401)."""

    def __init__(self, keys: Callable[[dict, bytes], Iterable[str]]):
        self.arrivals = Arrivals()
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            # keeps connections alive as a real webhook receiver (and Alertmanager's
            # client) does: HTTP/1.0 here made every send of both sides a new connection
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server API
                now = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    receiver.arrivals.record(keys(dict(self.headers), body), now)
                    self.send_response(200)
                except ValueError:
                    receiver.rejected += 1
                    self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def signed_webhook_keys(headers: dict, body: bytes) -> list[str]:
    """The benchmark event behind one generic-webhook POST, after checking its signature."""
    from services.notify.channels.webhook import verify

    problem = verify(WEBHOOK_SECRET, headers, body, time.time())
    if problem:
        raise ValueError(problem)
    event_id = ((json.loads(body).get("context") or {}).get("event") or {}).get("event_id")
    return [event_id] if event_id else []


def alertmanager_keys(headers: dict, body: bytes) -> list[str]:
    return [alert["labels"]["n"] for alert in json.loads(body).get("alerts", [])]


class AlertListener:
    """Records when each benchmark event's ``alert_raised`` arrives (bound before publishing)."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.arrivals = Arrivals()
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.queue = Queue(
            f"bench.alerts.{uuid.uuid4().hex[:6]}",
            exchange=Exchange("alerts.events", type="topic", durable=True),
            routing_key="alert_raised",
            auto_delete=True,
        )
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(30)

    def _run(self) -> None:
        with Connection(self.amqp_uri) as conn:

            def on_message(body, message):
                now = time.perf_counter()
                self.arrivals.record([(body.get("event") or {}).get("event_id", "")], now)
                message.ack()

            with conn.Consumer(self.queue, callbacks=[on_message], accept=["json"]) as consumer:
                consumer.qos(prefetch_count=500)
                self.ready.set()
                while not self.stop.is_set():
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)


# -- broker deliveries and store commands per event ----------------------------------

STATS_SETTLE_S = 5.5  # the management API refreshes its counters every 5 s
OWN_QUEUES = ("bench.",)  # the benchmark's own listener, not a service's queue


def queue_listing(vhost: str) -> list[dict]:
    """``/api/queues/<vhost>``: each queue's name and message_stats."""
    answer = requests.get(
        f"{API}/api/queues/{vhost}", auth=AUTH, params={"columns": "name,message_stats"}, timeout=10
    )
    answer.raise_for_status()
    return answer.json()


def delivered_by_queue(listing: list[dict]) -> dict[str, int]:
    """Messages delivered so far per queue (``message_stats.deliver_get``: deliveries,
    redeliveries and gets; absent until the queue delivered anything)."""
    return {row["name"]: int((row.get("message_stats") or {}).get("deliver_get", 0)) for row in listing}


def settled_listing(vhost: str, timeout: float = 90) -> list[dict]:
    """A listing the management API has caught up with: two reads a refresh apart agree."""
    deadline = time.monotonic() + timeout
    listing = queue_listing(vhost)
    while True:
        time.sleep(STATS_SETTLE_S)
        again = queue_listing(vhost)
        if delivered_by_queue(again) == delivered_by_queue(listing) or time.monotonic() > deadline:
            return again
        listing = again


def deliveries(before: list[dict], after: list[dict], events: int) -> dict:
    """Broker deliveries to the services' queues between two listings, per queue and in
    all, and per event; the benchmark's own queues are left out."""
    start, end = delivered_by_queue(before), delivered_by_queue(after)
    by_queue = {
        name: count - start.get(name, 0)
        for name, count in sorted(end.items())
        if not name.startswith(OWN_QUEUES) and count - start.get(name, 0)
    }
    total = sum(by_queue.values())
    return {
        "events": events,
        "by_queue": by_queue,
        "total": total,
        "per_event": total / events if events else None,
    }


def command_totals(directory: Path, suffix: str = "json") -> Counter:
    """Store commands so far, by ``<database> <command>`` (``suffix`` ``docs``: documents
    written, by ``<database> <collection> <command>``), summed over the processes
    counting into ``directory`` (bench/store_commands.py)."""
    out: Counter = Counter()
    for path in directory.glob(f"*.{suffix}"):  # replaced atomically: never half written
        out.update(json.loads(path.read_text()))
    return out


def commands_per_event(
    idle: tuple[Counter, Counter, float], burst: tuple[Counter, Counter, float], events: int, prefix: str
) -> dict:
    """Store commands per event by service, database and command, and in all. ``idle`` and
    ``burst`` are (counts at the start, at the end, seconds between); the commands the
    timers send while nothing arrives (the idle rate) are taken out of the burst's."""
    idle_start, idle_end, idle_s = idle
    start, end, burst_s = burst
    by_command: dict[str, float] = {}
    for key in set(end) | set(start):
        idle_rate = (idle_end.get(key, 0) - idle_start.get(key, 0)) / idle_s if idle_s > 0 else 0.0
        spent = max(0.0, end.get(key, 0) - start.get(key, 0) - idle_rate * burst_s)
        if spent:
            by_command[key.removeprefix(prefix)] = spent / events
    by_service: dict[str, float] = {}
    for key, per in by_command.items():
        service = key.split(" ", 1)[0]
        by_service[service] = by_service.get(service, 0.0) + per
    return {
        "per_event": sum(by_command.values()),
        "by_service": dict(sorted(by_service.items(), key=lambda kv: -kv[1])),
        "by_command": dict(sorted(by_command.items(), key=lambda kv: -kv[1])),
        "idle_per_s": (sum(idle_end.values()) - sum(idle_start.values())) / idle_s if idle_s > 0 else None,
    }


# -- the store -----------------------------------------------------------------------


class PrivateStore:
    """An nx-27017 of the campaign's own on a free port (the shared one untouched), in its
    default asyncio mode or ``--threaded``; its log, one line per command when threaded,
    is discarded."""

    def __init__(self, threaded: bool):
        self.threaded = threaded
        self.dir = Path(tempfile.mkdtemp(prefix="cx-bench-store-"))
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        command = [
            str(STORE_SERVER),
            "--data-dir",
            str(self.dir / "data"),
            "-p",
            str(self.port),
            "--log-file",
            os.devnull,
            "--pid-file",
            str(self.dir / "nx.pid"),
        ]
        self.proc = subprocess.Popen(
            command + (["--threaded"] if threaded else []),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import pymongo

        client = pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=1000)
        deadline = time.monotonic() + 90  # a loaded 2-core machine can take most of a minute
        try:
            while True:
                try:
                    client.admin.command("ping")
                    return
                except pymongo.errors.PyMongoError:
                    if self.proc.poll() is not None or time.monotonic() > deadline:
                        self.close()
                        raise RuntimeError(f"nx-27017 on port {self.port} did not answer") from None
                    time.sleep(0.5)
        finally:
            client.close()

    @property
    def mode(self) -> str:
        return "threaded" if self.threaded else "default"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


# -- ours and the floor -------------------------------------------------------------


class Stack:
    """The four services (``replicas`` processes each) on a fresh vhost and fresh
    databases (on the shared store, or on ``store``), configured for the benchmark,
    with an ``alert_raised`` listener; each service counts its store commands."""

    counts_commands = True

    def __init__(
        self, amqp_host: str, replicas: int, webhook: HttpReceiver, store: PrivateStore | None = None
    ):
        self.replicas = replicas
        self.vhost = make_vhost()
        self.amqp_uri = f"pyamqp://guest:guest@{amqp_host}/{self.vhost}"
        self.prefix = f"bench{uuid.uuid4().hex[:6]}_"
        self.webhook = webhook
        self.store = store
        self.mongo_uri = store.uri if store else MONGO_URI
        # on a tmpfs when there is one: the services rewrite their counters twice a
        # second, and a rename on the disk's journal stalled their event loop for ms
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.commands = Path(tempfile.mkdtemp(prefix="cx-bench-commands-", dir=shm))
        env = dict(
            os.environ,
            AMQP_URI=self.amqp_uri,
            MONGO_URI=self.mongo_uri,
            MONGO_DB_PREFIX=self.prefix,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(free_port()),  # nothing listens: the benchmark's channel is the webhook
            NOTIFY_MAX_ATTEMPTS="1",
            NOTIFY_FALLBACK_CHANNEL="none",
            LOG_LEVEL="WARNING",
            BENCH_COMMANDS_DIR=str(self.commands),
            BENCH_WEBHOOK_URL=webhook.url,
            BENCH_WEBHOOK_SECRET=WEBHOOK_SECRET,
        )
        self.procs = self.start(env, replicas)
        self.listener = None
        try:
            self.ready()
            self.listener = AlertListener(self.amqp_uri)
        except BaseException:
            self.close()
            raise

    def start(self, env: dict, replicas: int) -> list[subprocess.Popen]:
        launcher = [sys.executable, "-m", "bench.store_commands"]  # run from ROOT
        name = f"bench-store-{self.store.mode}" if self.store else "bench"  # var/log/<name>-<service>.log
        return start_services(env, replicas=replicas, module=self.module, launcher=launcher, log_name=name)

    def ready(self) -> None:
        rpc_ready(self.amqp_uri)
        configure(
            self.amqp_uri,
            channels=("webhook",),
            webhook={"url": self.webhook.url, "secret": WEBHOOK_SECRET, "rate": WEBHOOK_RATE},
        )

    def module(self, service: str) -> str:
        return f"services.{service}.service"

    def pids(self, service: str) -> list[int]:
        return [p.pid for p in self.procs if p.args[-1] == self.module(service)]

    def processes(self) -> dict[str, list[int]]:
        """Every process a run costs CPU in: each service's replicas, the store, the broker."""
        services = {s: self.pids(s) for s in ("alerts", "cases", "profiles", "notify")}
        shared = shared_processes()
        if self.store is not None:
            shared["store (nx-27017)"] = [self.store.proc.pid]
        return {**services, **shared}

    def rss(self) -> list[dict]:
        from bench.footprint import rss_bytes

        return [
            {"service": p.args[-1].split(".")[1], "pid": p.pid, "rss_bytes": rss_bytes(p.pid)}
            for p in self.procs
        ]

    def burst(self, n: int, offset: int) -> dict:
        """``run`` as fast as confirms allow, with the CPU of every process, the broker's
        deliveries per queue and (ours) the store commands, each per event."""
        idle_start, idle_docs, idle_at = self._commands()
        before = settled_listing(self.vhost)  # nothing arrives meanwhile: the timers' own rate
        start, start_docs, started = self._commands()
        meter = CpuMeter(self.processes())
        out = self.run(n, None, offset)
        out["cpu"] = meter.stop()
        after = settled_listing(self.vhost)
        end, end_docs, ended = self._commands()
        out["deliveries"] = deliveries(before, after, n)
        if self.counts_commands:
            idle, burst = started - idle_at, ended - started
            out["store_commands"] = commands_per_event(
                (idle_start, start, idle), (start, end, burst), n, self.prefix
            )
            out["store_documents"] = commands_per_event(
                (idle_docs, start_docs, idle), (start_docs, end_docs, burst), n, self.prefix
            )
        return out

    def _commands(self) -> tuple[Counter, Counter, float]:
        if not self.counts_commands:
            return Counter(), Counter(), time.monotonic()
        return command_totals(self.commands), command_totals(self.commands, "docs"), time.monotonic()

    def send(self, n: int, rate: float | None, offset: int) -> tuple[dict, float, float, dict, dict]:
        """Publish ``n`` events at ``rate`` and wait until each one's alert is stored and
        its webhook delivered (or a deadline): (send times, start, end of sending, alert
        and webhook arrival times), by event index. ``offset`` keeps customers distinct
        across runs (a repeat would only attach)."""
        tag = uuid.uuid4().hex[:6]
        with FeedbackPublisher(self.amqp_uri) as publisher:
            sent, start, end = paced(n, rate, lambda i: publisher.publish(feedback(offset + i, tag)))
        wanted = {f"{tag}-{offset + i}": i for i in sent}
        deadline = time.monotonic() + max(60, n * 0.5)
        while time.monotonic() < deadline:
            if len(self.listener.arrivals.of(wanted)) >= n and len(self.webhook.arrivals.of(wanted)) >= n:
                break
            time.sleep(0.1)
        return sent, start, end, self.listener.arrivals.of(wanted), self.webhook.arrivals.of(wanted)

    def run(self, n: int, rate: float | None, offset: int) -> dict:
        """``send``, summarised: rates and latency percentiles, once the queues are idle."""
        sent, start, end, alerts, hooks = self.send(n, rate, offset)
        out = {
            "events": n,
            "offered_rate": n / (end - start) if end > start else 0.0,
            "alert": arrivals(sent, alerts, start),
            "webhook": arrivals(sent, hooks, start),
        }
        # the rest of the pipeline (profiles, above all) drains its backlog before the
        # next run starts, so no run pays for the one before
        idle = time.perf_counter()
        out["drained"] = wait_queues_idle(self.amqp_uri, quiet=6.0, timeout=max(60, n * 0.5))
        out["drain_s"] = time.perf_counter() - idle
        if not out["drained"]:
            log(f"warning: the queues were still busy {out['drain_s']:.0f} s after the run")
        return out

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        drop_vhost(self.vhost)
        if self.counts_commands:
            drop_databases(self.prefix, uri=self.mongo_uri)
        shutil.rmtree(self.commands, ignore_errors=True)


class FloorStack(Stack):
    """The topology floor (bench/floor.py): the four services' message flow with
    handlers that only parse, validate and dispatch; no store, nothing to configure."""

    counts_commands = False

    def start(self, env: dict, replicas: int) -> list[subprocess.Popen]:
        return start_services(env, replicas=replicas, module=self.module, log_name="bench-floor")

    def module(self, service: str) -> str:
        from bench.floor import module_of

        return module_of(service)

    def ready(self, timeout: float = 90) -> None:
        """Every mirrored handler's queue has its consumer (nothing published is lost)."""
        from bench.floor import consumer_count

        wanted = consumer_count() * self.replicas
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            answer = requests.get(
                f"{API}/api/queues/{self.vhost}", auth=AUTH, params={"columns": "name,consumers"}, timeout=10
            )
            if answer.ok and sum(row.get("consumers", 0) for row in answer.json()) >= wanted:
                return
            time.sleep(1)
        raise RuntimeError(f"the floor did not consume within {timeout:g} s (see var/log/bench-floor-*.log)")

    def processes(self) -> dict[str, list[int]]:
        services = {s: self.pids(s) for s in ("alerts", "cases", "profiles", "notify")}
        shared = shared_processes()
        del shared["store (nx-27017)"]  # the floor never touches it
        return {**services, **shared}


def profiled_burst(stack: Stack, n: int, offset: int, stamp: str) -> dict:
    """A burst under py-spy (alerts, profiles, cases and the store): top frames to bench/results/."""
    from bench import hotpath

    RESULTS.mkdir(exist_ok=True)
    recorders = {
        service: hotpath.Recorder(stack.pids(service)[0], RESULTS / f"pyspy-{service}-{stamp}.txt")
        for service in ("alerts", "profiles", "cases", "notify")
    }
    store = shared_processes()["store (nx-27017)"]
    if store:  # the store is Python too: where its CPU per command goes
        recorders["store"] = hotpath.Recorder(store[0], RESULTS / f"pyspy-store-{stamp}.txt", rate=50)
    time.sleep(1.0)  # py-spy attaches
    try:
        run = stack.run(n, None, offset)
    finally:
        files = {service: r.stop() for service, r in recorders.items()}
    summaries = {
        s: hotpath.summarise(
            hotpath.parse_raw(f.read_text()), ours=hotpath.STORE if s == "store" else hotpath.OURS
        )
        for s, f in files.items()
        if f.exists()
    }
    report = "\n\n".join(hotpath.markdown(s, summary) for s, summary in summaries.items())
    (RESULTS / f"pyspy-{stamp}.md").write_text(
        f"# py-spy, burst of {n} events (under py-spy: {run['alert']['rate']:.1f} alerts/s)\n\n{report}\n"
    )
    return {"run": run, "files": {s: str(f.relative_to(ROOT)) for s, f in files.items()}, "top": summaries}


def memory(stack: Stack, profiles: int, cases: int) -> dict:
    import pymongo

    from bench.footprint import extrapolate, store_footprint

    # a consistent snapshot: every profile has its feedback, alert and case entries
    idle = wait_queues_idle(stack.amqp_uri, quiet=6.0, timeout=600)
    if not idle:
        log("warning: measuring the footprint while the pipeline is still busy")
    client = pymongo.MongoClient(MONGO_URI)
    statuses: dict[str, int] = {}
    for case in client[f"{stack.prefix}cases"].cases.find({}, {"status": 1}):
        statuses[case["status"]] = statuses.get(case["status"], 0) + 1
    profile = store_footprint(client, f"{stack.prefix}profiles", "profiles", profiles)
    case = store_footprint(client, f"{stack.prefix}cases", "cases", cases)
    case["statuses"] = statuses
    return {
        "pipeline_idle": idle,
        "profiles": profile,
        "per_1m_profiles": extrapolate(profile, 1_000_000),
        "cases": case,
        "per_100k_open_cases": extrapolate(case, 100_000),
    }


# -- Alertmanager ----------------------------------------------------------------


def ensure_alertmanager() -> None:
    if os.path.exists(ALERTMANAGER):
        return
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = prefix + ["apt-get", "install", "-y", "-qq", "prometheus-alertmanager"]
    log("installing prometheus-alertmanager")
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(prefix + ["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(install, check=True, env=env)


class Alertmanager:
    def __init__(self, webhook_url: str):
        ensure_alertmanager()
        said = subprocess.run([ALERTMANAGER, "--version"], capture_output=True, text=True)
        match = re.search(r"version (\S+)", said.stdout + said.stderr)
        self.version = f"Alertmanager {match[1]}" if match else "Alertmanager"
        self.dir = Path(tempfile.mkdtemp(prefix="cx-bench-am-"))
        self.port = free_port()
        (self.dir / "am.yml").write_text(
            json.dumps(
                {
                    "route": {
                        "receiver": "bench",
                        "group_by": ["..."],  # every alert its own group: nothing waits for company
                        "group_wait": "0s",
                        "group_interval": "5m",
                        "repeat_interval": "4h",
                    },
                    "receivers": [
                        {"name": "bench", "webhook_configs": [{"url": webhook_url, "send_resolved": False}]}
                    ],
                }
            )
        )
        self.log = open(self.dir / "am.log", "w")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={self.dir / 'am.yml'}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no HA gossip: one instance, like ours per stage
            ],
            stdout=self.log,
            stderr=self.log,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"alertmanager did not become ready (see {self.dir / 'am.log'})")

    def run(self, sink: HttpReceiver, n: int, rate: float | None, offset: int) -> dict:
        session = requests.Session()
        url = f"{self.url}/api/v2/alerts"
        tag = uuid.uuid4().hex[:6]

        def send(i: int) -> None:
            alert = {
                "labels": {"alertname": "nps_detractor", "n": str(offset + i), "run": tag, "severity": "P2"},
                "annotations": {"summary": f"bench-{offset + i} 送货太慢，客服电话一直占线，非常不满意"},
            }
            session.post(url, json=[alert], timeout=10).raise_for_status()

        sent, start, end = paced(n, rate, send)
        wanted = {str(offset + i): i for i in sent}
        deadline = time.monotonic() + max(60, n * 0.2)
        while len(sink.arrivals.of(wanted)) < n and time.monotonic() < deadline:
            time.sleep(0.1)
        return {
            "events": n,
            "offered_rate": n / (end - start) if end > start else 0.0,
            "webhook": arrivals(sent, sink.arrivals.of(wanted), start),
        }

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# -- rules -----------------------------------------------------------------------


def rules_scaling(amqp_host: str, sizes: list[int], stores: int, repeat: int, e2e: bool) -> list[dict]:
    """bench/rules.py's two measurements per rule-set size: in process (the engine on
    in-memory state) and end to end (the alerts service on broker and store)."""
    from bench import rules as bench_rules
    from services.alerts.index import RuleIndex
    from textanalysis.text import analyze, warm_up

    warm_up()
    stream = bench_rules.events(stores)
    for event in stream:  # text analysis is cached per text: pay it before any timing
        if event.get("text"):
            analyze(event["text"])
    out = []
    for size in sizes:
        log(f"rules: {size:,}")
        row = {
            "rules": size,
            "in_process": bench_rules.rate(RuleIndex(bench_rules.rule_set(size, stores)), stream, repeat),
        }
        if e2e:
            row["e2e"] = bench_rules.end_to_end(amqp_host, size, stores)
        out.append(row)
    return out


# -- report ----------------------------------------------------------------------


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds * 1000:,.0f} ms"


def mib(n: float | None) -> str:
    return "–" if n is None else f"{n / 2**20:,.1f} MiB"


def burst_runs(result: dict) -> list[tuple[str, dict]]:
    """Every burst of the run, labelled: ours per replica count, the floor, the store modes."""
    runs = [(f"ours, {r} replica(s)", b) for r, b in result["burst"].items()]
    if result.get("floor"):
        runs.append(("topology floor", result["floor"]))
    runs += [(f"ours, store {mode}", b) for mode, b in (result.get("store_modes") or {}).items()]
    return runs


def throughput_table(result: dict) -> str:
    base = result["baseline"]["rate"]
    floor = result.get("floor") or {}
    lines = [
        "| run | events | delivered | offered/s | rate/s | ratio to baseline | ratio to topology floor "
        "| p50 | p95 | p99 | all queues idle after the last webhook |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        f"| baseline: raw kombu publish→consume | {result['baseline']['messages']} | "
        f"{result['baseline']['messages']} | | {base:,.0f} | 1.000 | | | | | |",
    ]

    def row(name: str, run: dict, leg: str, to_floor: bool = False) -> None:
        got = run[leg]
        lat = got["latency_s"]
        idle = ""
        if leg == "webhook" and "drain_s" in run:
            # quiet period included: the management API refreshes every 5 s
            idle = f"{run['drain_s']:.0f} s" if run["drained"] else f"not within {run['drain_s']:.0f} s"
        ceiling = (floor.get(leg) or {}).get("rate")
        versus = f"{got['rate'] / ceiling:.3f}" if to_floor and ceiling else ""
        lines.append(
            f"| {name} | {run['events']} | {got['delivered']} | "
            f"{run['offered_rate']:,.0f} | {got['rate']:,.1f} | {got['rate'] / base:.3f} | {versus} | "
            f"{ms(lat.get('p50'))} | {ms(lat.get('p95'))} | {ms(lat.get('p99'))} | {idle} |"
        )

    if floor:
        row("topology floor, burst → alert_raised dispatched", floor, "alert", True)
        row("topology floor, burst → webhook delivered", floor, "webhook", True)
    for replicas, burst in result["burst"].items():
        each = "1 replica" if replicas == "1" else f"{replicas} replicas"
        row(f"ours, burst, {each}/service → alert stored", burst, "alert", True)
        row(f"ours, burst, {each}/service → webhook delivered", burst, "webhook", True)
    for mode, burst in (result.get("store_modes") or {}).items():
        row(f"ours, burst, private store, {mode} mode → alert stored", burst, "alert", True)
        row(f"ours, burst, private store, {mode} mode → webhook delivered", burst, "webhook", True)
    for rate in result["rates"]:
        ours, am = result["ours"].get(str(rate)), result["alertmanager"].get(str(rate))
        if ours:
            row(f"ours, paced {rate}/s → alert stored", ours, "alert")
            row(f"ours, paced {rate}/s → webhook delivered", ours, "webhook")
        if am:
            row(f"Alertmanager, paced {rate}/s → webhook", am, "webhook")
    return "\n".join(lines)


def deliveries_table(result: dict) -> str:
    """Broker deliveries per event to each service queue during each burst."""
    runs = [(name, b["deliveries"]) for name, b in burst_runs(result) if b.get("deliveries")]
    if not runs:
        return ""
    queues = sorted({q for _, d in runs for q in d["by_queue"]})
    lines = [
        f"| queue | {' | '.join(f'{name}: deliveries per event' for name, _ in runs)} |",
        "|---" * (len(runs) + 1) + "|",
    ]
    for queue in queues:
        cells = [f"{d['by_queue'].get(queue, 0) / d['events']:.2f}" for _, d in runs]
        lines.append(f"| {queue} | {' | '.join(cells)} |")
    totals = [f"**{d['per_event']:.2f}**" for _, d in runs]
    lines.append(f"| **all service queues** | {' | '.join(totals)} |")
    drift = topology_drift(result)
    if drift:
        lines.append(f"\nThe floor's flow differs from ours (update bench/floor.py REACTIONS): {drift}")
    return "\n".join(lines)


def topology_drift(result: dict) -> str:
    """Queues the 1-replica burst reached and the floor's did not, or the other way round
    (the floor mirrors the wiring by itself, but its REACTIONS are written by hand)."""
    ours = set(((result["burst"].get("1") or {}).get("deliveries") or {}).get("by_queue", ()))
    floor = set(((result.get("floor") or {}).get("deliveries") or {}).get("by_queue", ()))
    if not ours or not floor or ours == floor:
        return ""
    parts = [
        f"{who} only: {', '.join(sorted(q))}"
        for who, q in (("ours", ours - floor), ("floor", floor - ours))
        if q
    ]
    return "; ".join(parts)


def commands_table(result: dict, top: int = 12) -> str:
    """Store commands per event during the 1-replica burst: by service, then the most frequent."""
    counted = (result["burst"].get("1") or {}).get("store_commands")
    if not counted:
        return ""
    lines = ["| service | store commands per event (1 replica, burst) |", "|---|---|"]
    lines += [f"| {service} | {per:.2f} |" for service, per in counted["by_service"].items()]
    lines.append(f"| **all** | **{counted['per_event']:.2f}** |")
    lines += ["", "| database command | per event |", "|---|---|"]
    lines += [f"| {key} | {per:.2f} |" for key, per in list(counted["by_command"].items())[:top]]
    idle = counted.get("idle_per_s")
    if idle is not None:
        lines.append(f"\nTimers' commands while idle, taken out: {idle:.1f}/s.")
    written = (result["burst"].get("1") or {}).get("store_documents")
    if written:  # one insert_many is one command, but the store writes and indexes each document
        lines += ["", "| database collection command | documents written per event |", "|---|---|"]
        lines += [f"| {key} | {per:.2f} |" for key, per in list(written["by_command"].items())[:top]]
        lines.append(f"| **all** | **{written['per_event']:.2f}** |")
    return "\n".join(lines)


def store_modes_table(result: dict) -> str:
    modes = result.get("store_modes") or {}
    if not modes:
        return ""
    lines = [
        "| private nx-27017 | burst → alert stored /s | burst → webhook delivered /s | webhook / default "
        "| store CPU ms/event | all processes CPU ms/event | store commands per event |",
        "|---|---|---|---|---|---|---|",
    ]
    default = (modes.get("default") or {}).get("webhook", {}).get("rate")
    for mode, b in modes.items():
        cpu = b["cpu"]["cpu_s"]
        store = cpu.get("store (nx-27017)", 0.0) * 1000 / b["events"]
        total = sum(cpu.values()) * 1000 / b["events"]
        versus = f"{b['webhook']['rate'] / default:.2f}" if default else ""
        commands = (b.get("store_commands") or {}).get("per_event")
        lines.append(
            f"| {mode} mode | {b['alert']['rate']:,.1f} | {b['webhook']['rate']:,.1f} | {versus} | "
            f"{store:,.1f} | {total:,.1f} | {'–' if commands is None else f'{commands:.2f}'} |"
        )
    return "\n".join(lines)


def scaling_table(result: dict) -> str:
    base = result["baseline"]["rate"]
    lines = [
        "| what | events/s | ratio to baseline | ratio to the reference | reference |",
        "|---|---|---|---|---|",
    ]
    bursts = result["burst"]
    if "1" in bursts:
        one = bursts["1"]
        for replicas, burst in bursts.items():
            for leg, name in (("alert", "alert stored"), ("webhook", "webhook delivered")):
                r = burst[leg]["rate"]
                lines.append(
                    f"| {replicas} replica(s)/service, burst → {name} | {r:,.1f} | {r / base:.3f} | "
                    f"{r / max(one[leg]['rate'], 1e-9):.2f} | 1 replica |"
                )
    rules = result.get("rules") or []
    if rules:
        ten = rules[0]
        for row in rules:
            r = row["in_process"]["rate"]
            lines.append(
                f"| {row['rules']:,} rules, in process ({row['in_process']['rules_evaluated_per_event']:.1f} "
                f"evaluated per event) | {r:,.0f} | {r / base:.2f} | {r / ten['in_process']['rate']:.2f} | "
                f"{ten['rules']} rules |"
            )
        for row in rules:
            if "e2e" in row:
                r = row["e2e"]["rate"]
                lines.append(
                    f"| {row['rules']:,} rules, end to end through alerts ({row['e2e']['recorded']}/"
                    f"{row['e2e']['events']} events; apply {row['e2e']['apply_s']:.1f} s, load "
                    f"{row['e2e']['load_s']:.1f} s) | {r:,.1f} | {r / base:.3f} | "
                    f"{r / ten['e2e']['rate']:.2f} | {ten['rules']} rules |"
                )
    return "\n".join(lines)


def cpu_table(result: dict) -> str:
    """CPU per event by process during each burst (publishing and draining included)."""
    bursts = {name: b for name, b in burst_runs(result) if "cpu" in b}
    if not bursts:
        return ""
    names = list(dict.fromkeys(n for b in bursts.values() for n in b["cpu"]["cpu_s"]))
    head = " | ".join(f"{name}: CPU ms/event (share)" for name in bursts)
    lines = [f"| process | {head} |", "|---" * (len(bursts) + 1) + "|"]
    totals = {r: sum(b["cpu"]["cpu_s"].values()) for r, b in bursts.items()}
    for name in names + ["**all**"]:
        cells = []
        for r, b in bursts.items():
            if name != "**all**" and name not in b["cpu"]["cpu_s"]:
                cells.append("–")
                continue
            spent = totals[r] if name == "**all**" else b["cpu"]["cpu_s"][name]
            cells.append(f"{spent * 1000 / b['events']:,.1f} ({spent / max(totals[r], 1e-9):.0%})")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    busy = ", ".join(
        f"{r}: {totals[r] / b['cpu']['wall_s']:.2f} of {os.cpu_count()} cores busy "
        f"over {b['cpu']['wall_s']:.0f} s"
        for r, b in bursts.items()
    )
    return "\n".join(lines) + f"\n\n{busy}"


def memory_table(result: dict) -> str:
    lines = []
    mem = result.get("memory")
    if mem:
        lines += [
            "| store footprint | measured on | store data + index per unit | BSON per unit | "
            "extrapolated: store (data + index) | extrapolated: BSON | store / BSON |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, scale, label in (
            ("profiles", "per_1m_profiles", "1M profiles"),
            ("cases", "per_100k_open_cases", "100k open cases"),
        ):
            f, x = mem[key], mem[scale]
            per = f["store_bytes_per_unit"]
            statuses = ", ".join(f"{n} {s}" for s, n in sorted(f.get("statuses", {}).items()))
            lines.append(
                f"| {label} | {f['source_units']} real {key}{f' ({statuses})' if statuses else ''} "
                f"copied to {f['copied_units']:,} | "
                f"{per['data'] + per['index']:,.0f} B ({per['index']:,.0f} B index) | "
                f"{f['bson_bytes_per_unit']:,.0f} B | {mib(x['store_bytes'])} | {mib(x['bson_bytes'])} | "
                f"{x['store_bytes'] / max(x['bson_bytes'], 1):.2f} |"
            )
        lines += ["", "| database: collection | documents per unit | BSON bytes per unit |", "|---|---|---|"]
        for key in ("profiles", "cases"):
            f = mem[key]
            for name, size in sorted(f["bson_bytes_per_unit_by_collection"].items(), key=lambda kv: -kv[1]):
                if not size:
                    continue
                count = f["source_documents"][name] / f["source_units"]
                lines.append(f"| {key}: {name} | {count:.2f} | {size:,.0f} |")
        if not mem.get("pipeline_idle", True):
            lines.append("\nThe pipeline was still busy when the documents were read: a partial snapshot.")
        lines.append("")
    lines += ["| service process | replicas | RSS at the end of its runs |", "|---|---|---|"]
    for replicas, procs in result.get("rss", {}).items():
        for p in procs:
            lines.append(f"| {p['service']} (pid {p['pid']}) | {replicas} | {mib(p['rss_bytes'])} |")
    return "\n".join(lines)


def targets(result: dict) -> list[dict]:
    """Issue 16's targets (and issue 11's rules scaling): measured value, goal, how far off,
    and what the value is best read beside."""
    out = []

    def add(
        name: str,
        value: float | None,
        goal: float,
        at_least: bool,
        unit: str = "",
        issue: int = 16,
        beside: str = "",
    ) -> None:
        row = {
            "target": name,
            "issue": issue,
            "value": value,
            "goal": goal,
            "at_least": at_least,
            "beside": beside,
        }
        if value is None:
            out.append({**row, "met": False, "missed_by": "not measured"})
            return
        met = value >= goal if at_least else value <= goal
        if met:
            missed = ""
        elif at_least:
            missed = f"{goal / value:,.1f}× short ({(goal - value) / goal:.0%} below)" if value else "nothing"
        else:
            excess = value - goal
            missed = (
                f"{value / goal:,.1f}× over (+{excess:,.0f}{unit})"
                if excess >= 10
                else (f"{value / goal:,.2f}× over (+{excess:.3g}{unit})")
            )
        out.append({**row, "met": met, "missed_by": missed})

    def rate(run: dict | None, leg: str) -> float | None:
        return ((run or {}).get(leg) or {}).get("rate")

    def ratio(value: float | None, to: float | None) -> float | None:
        return None if value is None or not to else value / to

    def latency(runs: dict, rate: int, leg: str, q: str) -> float | None:
        value = ((runs.get(str(rate)) or {}).get(leg) or {}).get("latency_s", {}).get(q)
        return None if value is None else value * 1000

    base = (result.get("baseline") or {}).get("rate")
    one, floor = result["burst"].get("1"), result.get("floor")
    add("burst, publish → alert stored / raw kombu", ratio(rate(one, "alert"), base), 0.15, True)
    add("burst, publish → webhook delivered / raw kombu", ratio(rate(one, "webhook"), base), 0.10, True)
    floor_alert = ratio(rate(one, "alert"), rate(floor, "alert"))
    add(
        "burst, publish → webhook delivered / topology floor, same run",
        ratio(rate(one, "webhook"), rate(floor, "webhook")),
        0.60,
        True,
        beside=f"floor {rate(floor, 'webhook'):,.0f}/s; alert stored / floor {floor_alert:.3f}"
        if floor_alert is not None
        else "",
    )
    cpu = one.get("cpu") if one else None
    add(
        "CPU per event, all processes, burst, ms",
        sum(cpu["cpu_s"].values()) * 1000 / one["events"] if cpu else None,
        15,
        False,
        " ms",
    )
    add("store commands per event", ((one or {}).get("store_commands") or {}).get("per_event"), 8, False)
    floor_deliveries = ((floor or {}).get("deliveries") or {}).get("per_event")
    add(
        "broker deliveries per detractor event",
        ((one or {}).get("deliveries") or {}).get("per_event"),
        6,
        False,
        beside=f"topology floor {floor_deliveries:.2f}" if floor_deliveries is not None else "",
    )
    am = latency(result["alertmanager"], 100, "webhook", "p99")
    add(
        "paced 100/s, p99 publish → alert stored, ms",
        latency(result["ours"], 100, "alert", "p99"),
        50,
        False,
        " ms",
        beside=f"Alertmanager p99 at 100/s: {am:,.1f} ms" if am is not None else "",
    )
    add(
        "paced 100/s, p99 publish → webhook delivered, ms",
        latency(result["ours"], 100, "webhook", "p99"),
        150,
        False,
        " ms",
    )
    add(
        "paced 10/s, p50 publish → webhook delivered, ms",
        latency(result["ours"], 10, "webhook", "p50"),
        30,
        False,
        " ms",
    )
    rules = result.get("rules") or []
    if len(rules) > 1:
        last = rules[-1]
        if "e2e" in last:
            add(
                f"{last['rules']:,} rules / {rules[0]['rules']} rules, end to end",
                last["e2e"]["rate"] / rules[0]["e2e"]["rate"],
                0.5,
                True,
                issue=11,
            )
        add(
            f"{last['rules']:,} rules / {rules[0]['rules']} rules, in process",
            last["in_process"]["rate"] / rules[0]["in_process"]["rate"],
            0.5,
            True,
            issue=11,
        )
    return out


def targets_table(rows: list[dict]) -> str:
    lines = [
        "| target | issue | measured | goal | met | missed by | beside it |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in rows:
        value = "–" if t["value"] is None else f"{t['value']:,.3f}"
        goal = f"{'≥' if t['at_least'] else '≤'} {t['goal']:g}"
        lines.append(
            f"| {t['target']} | {t['issue']} | {value} | {goal} | {'yes' if t['met'] else 'no'} | "
            f"{t['missed_by']} | {t.get('beside', '')} |"
        )
    return "\n".join(lines)


def chart(result: dict, path: Path) -> None:
    """Left: p99 latency per offered rate, ours (alert stored, webhook delivered) and
    Alertmanager, log scale, with the 50 ms target. Right: every burst's rate beside raw
    kombu and the topology floor, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = result["rates"]

    def p99_ms(runs: dict, rate: int, leg: str) -> float:
        value = ((runs.get(str(rate)) or {}).get(leg) or {}).get("latency_s", {}).get("p99")
        return value * 1000 if value else float("nan")

    series = [
        ("ours: publish → alert stored", "#2f6fdf", lambda r: p99_ms(result["ours"], r, "alert")),
        ("ours: publish → webhook delivered", "#7aa6f0", lambda r: p99_ms(result["ours"], r, "webhook")),
        (
            f"{result.get('alertmanager_version', 'Alertmanager')}: POST → webhook",
            "#e07b39",
            lambda r: p99_ms(result["alertmanager"], r, "webhook"),
        ),
    ]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(14, 4.8), dpi=110, gridspec_kw={"width_ratios": [3, 2]})
    width = 0.8 / len(series)
    for k, (label, colour, leg) in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(rates))]
        ys = [leg(r) for r in rates]
        bars = ax.bar(xs, ys, width * 0.95, label=label, color=colour)
        labels = ["–" if y != y else f"{y:,.0f}" if y >= 10 else f"{y:.1f}" for y in ys]  # y != y: NaN
        ax.bar_label(bars, labels=labels, fontsize=7, padding=2)
    ax.axhline(TARGET_P99_S * 1000, color="#c00", linestyle="--", linewidth=1)
    ax.text(
        len(rates) - 0.5,
        TARGET_P99_S * 1000 * 1.1,
        "50 ms target (alert stored, 100/s)",
        color="#c00",
        fontsize=8,
        ha="right",
    )
    ax.set_yscale("log")
    ax.set_ylabel("p99 latency, ms (log scale)")

    def sent(runs: dict, rate: int) -> str:
        run = runs.get(str(rate))
        return f"{run['offered_rate']:,.0f}" if run else "–"

    ax.set_xticks(
        range(len(rates)),
        [
            f"{r:,}/s offered\n(sent/s: ours {sent(result['ours'], r)},\n"
            f"AM {sent(result['alertmanager'], r)})"
            for r in rates
        ],
        fontsize=7,
    )
    ax.set_title(f"p99 latency per offered rate, one run ({result['when']})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")

    bars = [("raw kombu", result["baseline"]["rate"], "#999")]
    for name, run in burst_runs(result):
        colour = "#5a5" if name == "topology floor" else "#2f6fdf"
        bars += [
            (f"{name}\nalert", run["alert"]["rate"], colour),
            (f"{name}\nwebhook", run["webhook"]["rate"], colour),
        ]
    drawn = bx.bar(range(len(bars)), [b[1] for b in bars], color=[b[2] for b in bars])
    bx.bar_label(drawn, labels=[f"{b[1]:,.0f}" for b in bars], fontsize=7, padding=2)
    bx.set_xticks(range(len(bars)), [b[0] for b in bars], fontsize=6, rotation=60, ha="right")
    bx.set_yscale("log")
    bx.set_ylabel("events/s, burst (log scale)")
    bx.set_title("burst rates: raw kombu, topology floor, ours", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# -- main ------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description="ours vs Alertmanager and the scaling figures, in one run")
    parser.add_argument("--events", type=int, default=500, help="events per burst")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each paced run")
    parser.add_argument("--rates", default="10,100,200,500,1000", help="offered rates, events/s")
    parser.add_argument("--baseline-messages", type=int, default=5000)
    parser.add_argument("--replicas", default="1,2", help="replicas per service for the burst")
    parser.add_argument("--rules", default="10,1000,10000", help="rule-set sizes (first = the reference)")
    parser.add_argument(
        "--rules-stores", type=int, default=2000, help="stores the generated rules spread over"
    )
    parser.add_argument(
        "--rules-repeat", type=int, default=3, help="passes over the 400 sample events, in process"
    )
    parser.add_argument("--no-rules-e2e", action="store_true", help="rules in process only")
    parser.add_argument(
        "--footprint-profiles", type=int, default=10_000, help="profiles copied for the footprint"
    )
    parser.add_argument("--footprint-cases", type=int, default=10_000, help="cases copied for the footprint")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy on the four services and the store during a burst"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the topology floor")
    parser.add_argument(
        "--store-threaded",
        action="store_true",
        help="also the burst on private nx-27017 servers, default mode vs --threaded",
    )
    parser.add_argument("--amqp-host", default="127.0.0.1:5672")
    parser.add_argument("--chart", default=str(ROOT / "docs" / "bench-campaign.png"))
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    replica_counts = [int(r) for r in args.replicas.split(",")]
    rule_sizes = [int(r) for r in args.rules.split(",") if r]
    ensure_bench_extra(args.profile)
    # a terminated campaign still stops its services and drops its vhosts and databases
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    when = datetime.now(UTC).isoformat(timespec="seconds")
    stamp = when.replace(":", "")
    result: dict = {
        "when": when,
        "rates": rates,
        "burst": {},
        "ours": {},
        "alertmanager": {},
        "rss": {},
        "errors": {},
    }
    result["machine"] = (
        f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    webhook, am_sink = HttpReceiver(signed_webhook_keys), HttpReceiver(alertmanager_keys)

    def guarded(name: str, phase: Callable[[], object]) -> object:
        """One phase; a failure is recorded (and fails the run) instead of losing the others."""
        try:
            return phase()
        except Exception as exc:
            log(f"{name} FAILED: {exc!r}")
            traceback.print_exc()
            result["errors"][name] = f"{type(exc).__name__}: {exc}"
            return None

    def ours(replicas: int) -> None:
        log(f"ours: {replicas} replica(s) per service")
        stack = Stack(args.amqp_host, replicas, webhook)
        try:
            stack.run(50, None, 9_000_000)  # warm-up: connections, caches
            log(f"burst of {args.events}")
            result["burst"][str(replicas)] = stack.burst(args.events, 8_000_000)
            if replicas == replica_counts[0]:
                for index, rate in enumerate(rates):
                    log(f"paced at {rate}/s for {args.seconds:g} s")
                    result["ours"][str(rate)] = stack.run(int(rate * args.seconds), rate, index * 1_000_000)
                if args.profile:
                    log("burst under py-spy")
                    result["profile"] = guarded(
                        "py-spy", lambda: profiled_burst(stack, args.events, 7_000_000, stamp)
                    )
            result["rss"][str(replicas)] = stack.rss()
            if replicas == replica_counts[0]:
                log("store footprint")
                result["memory"] = guarded(
                    "footprint", lambda: memory(stack, args.footprint_profiles, args.footprint_cases)
                )
        finally:
            stack.close()

    def floor() -> None:
        log("topology floor")
        stack = FloorStack(args.amqp_host, 1, webhook)
        try:
            stack.run(50, None, 9_000_000)  # warm-up: connections
            log(f"topology floor: burst of {args.events}")
            result["floor"] = stack.burst(args.events, 8_000_000)
        finally:
            stack.close()

    def store_modes() -> None:
        result["store_modes"] = {}
        for threaded in (False, True):
            store = PrivateStore(threaded)
            log(f"store modes: ours on a private nx-27017, {store.mode} mode (port {store.port})")
            try:
                stack = Stack(args.amqp_host, 1, webhook, store=store)
                try:
                    stack.run(50, None, 9_000_000)
                    log(f"store {store.mode} mode: burst of {args.events}")
                    result["store_modes"][store.mode] = stack.burst(args.events, 8_000_000)
                finally:
                    stack.close()
            finally:
                store.close()

    def alertmanager() -> None:
        log("Alertmanager")
        am = Alertmanager(am_sink.url)
        try:
            result["alertmanager_version"] = am.version
            am.run(am_sink, 50, None, 10_000_000)  # warm-up
            for index, rate in enumerate(rates):
                log(f"Alertmanager paced at {rate}/s")
                result["alertmanager"][str(rate)] = am.run(
                    am_sink, int(rate * args.seconds), rate, index * 1_000_000
                )
        finally:
            am.close()

    try:
        vhost = make_vhost()
        try:
            log("baseline")
            result["baseline"] = baseline(
                f"pyamqp://guest:guest@{args.amqp_host}/{vhost}", args.baseline_messages
            )
        finally:
            drop_vhost(vhost)
        for index, replicas in enumerate(replica_counts):
            guarded(f"ours, {replicas} replica(s)", lambda r=replicas: ours(r))
            if index == 0 and not args.no_floor:
                guarded("topology floor", floor)  # right after ours: the same machine state
        if args.store_threaded:
            guarded("store modes", store_modes)
        guarded("Alertmanager", alertmanager)
        if rule_sizes:
            result["rules"] = guarded(
                "rules",
                lambda: rules_scaling(
                    args.amqp_host, rule_sizes, args.rules_stores, args.rules_repeat, not args.no_rules_e2e
                ),
            )
    finally:
        webhook.close()
        am_sink.close()
    result["webhook_rejected"] = webhook.rejected
    result["targets"] = targets(result)

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"campaign-{stamp}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    chart(result, Path(args.chart))
    print(f"machine: {result['machine']}; {when}; {result.get('alertmanager_version', '')}\n")
    print(throughput_table(result), end="\n\n")
    print(scaling_table(result), end="\n\n")
    print(cpu_table(result), end="\n\n")
    for table in (deliveries_table(result), commands_table(result), store_modes_table(result)):
        if table:
            print(table, end="\n\n")
    print(memory_table(result), end="\n\n")
    print(targets_table(result["targets"]))
    if "profile" in result:
        print(f"\npy-spy: {RESULTS.relative_to(ROOT) / f'pyspy-{stamp}.md'}")
    complete = all(
        run[leg]["delivered"] == run["events"]
        for run in [
            *(run for _, run in burst_runs(result)),
            *result["ours"].values(),
            *result["alertmanager"].values(),
        ]
        for leg in ("alert", "webhook")
        if leg in run
    )
    if not complete or webhook.rejected or result["errors"]:
        print(
            f"\nINCOMPLETE: undelivered events: {'no' if complete else 'yes'}; webhook POSTs rejected: "
            f"{webhook.rejected}; failed phases: {', '.join(result['errors']) or 'none'}"
        )
    return 0 if complete and not webhook.rejected and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
