"""Benchmark campaign: our alert pipeline against Prometheus Alertmanager, in one run.

    .venv/bin/python bench/campaign.py            # the table and chart in docs/benchmarks.md

Every figure is measured in the same run on the same machine:

1. **Baseline**: raw kombu publish→consume rate on the same broker (bench/pipeline.py).
2. **Ours, burst**: the four services as ``nameko run`` processes; N detractor
   events published as fast as confirms allow; an event is done when its
   ``alert_raised`` event (dispatched after the alert is stored) reaches a
   listener bound to the alerts service's event exchange. Rate = N / (last
   alert − first publish), as a ratio to the baseline (target ≥ 0.40).
3. **Ours, paced** at each offered rate (200 and 1,000 events/s by default):
   latency per event = ``alert_raised`` received − publish started.
4. **Alertmanager, paced** at the same rates: Debian's prometheus-alertmanager
   (installed by this script when missing), one alert per POST to
   ``/api/v2/alerts``, each alert its own group (``group_by: [n]``,
   ``group_wait: 0s``), webhook receiver in this process; latency per alert =
   webhook received − POST started. This is the fairest like-for-like we can
   set up: both answer "how long from the producer's send until the matched
   alert reaches the next stage".

Targets (issue 11), as ratios in one run: our burst rate ≥ 0.40 × baseline; our
p99 ≤ Alertmanager's p99 at 200/s; our p99 < 50 ms at 1,000/s offered.
Results: stdout (markdown), ``bench/results/campaign-<time>.json`` and an SVG
chart (``--chart``, default docs/bench-campaign.svg).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from kombu import Connection, Exchange, Queue

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.pipeline import (  # noqa: E402
    baseline,
    configure,
    drop_vhost,
    feedback,
    make_vhost,
    percentiles,
    rpc_ready,
    start_services,
)
from cxctl.publish import FeedbackPublisher  # noqa: E402

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def paced(n: int, rate: float | None, send) -> tuple[dict[int, float], float, float]:
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


def summarise(sent: dict[int, float], got: dict[int, float], start: float, end: float) -> dict:
    latencies = [got[i] - sent[i] for i in got if i in sent]
    return {
        "events": len(sent),
        "delivered": len(got),
        "offered_rate": len(sent) / (end - start) if end > start else 0.0,
        "rate": len(got) / (max(got.values()) - start) if got else 0.0,
        "latency_s": percentiles(latencies) if len(latencies) > 1 else {},
    }


def wait_for(got: dict, lock: threading.Lock, n: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with lock:
            if len(got) >= n:
                return
        time.sleep(0.05)


# -- ours ----------------------------------------------------------------------


class AlertListener:
    """Records when each benchmark event's alert_raised arrives (bound before publishing)."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.got: dict[str, float] = {}
        self.lock = threading.Lock()
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
                event_id = (body.get("event") or {}).get("event_id", "")
                with self.lock:
                    self.got.setdefault(event_id, now)
                message.ack()

            with conn.Consumer(self.queue, callbacks=[on_message], accept=["json"]) as consumer:
                consumer.qos(prefetch_count=500)
                self.ready.set()
                while not self.stop.is_set():
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass


def ours(amqp_uri: str, listener: AlertListener, n: int, rate: float | None, offset: int) -> dict:
    """``offset`` keeps customers distinct across runs (a repeat would only attach)."""
    run = uuid.uuid4().hex[:6]
    with FeedbackPublisher(amqp_uri) as publisher:
        sent, start, end = paced(n, rate, lambda i: publisher.publish(feedback(offset + i, run)))
    wanted = {f"{run}-{offset + i}": i for i in sent}

    def mine() -> dict[int, float]:
        with listener.lock:
            return {wanted[e]: t for e, t in listener.got.items() if e in wanted}

    # a saturated pipeline drains its backlog before the next run starts
    deadline = time.monotonic() + max(60, n * 0.5)
    while len(mine()) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return summarise(sent, mine(), start, end)


# -- Alertmanager ----------------------------------------------------------------


class WebhookSink:
    """The Alertmanager webhook receiver: records when each alert ``n`` arrives."""

    def __init__(self):
        self.got: dict[int, float] = {}
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                now = time.perf_counter()
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with sink.lock:
                    for alert in body.get("alerts", []):
                        sink.got.setdefault(int(alert["labels"]["n"]), now)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def ensure_alertmanager() -> None:
    if not os.path.exists(ALERTMANAGER):
        prefix = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(
            prefix + ["apt-get", "install", "-y", "-qq", "prometheus-alertmanager"], check=True, env=env
        )


class Alertmanager:
    def __init__(self, webhook_port: int):
        ensure_alertmanager()
        self.dir = Path(tempfile.mkdtemp(prefix="cx-bench-am-"))
        self.port = free_port()
        (self.dir / "am.yml").write_text(
            json.dumps(
                {
                    "route": {
                        "receiver": "bench",
                        "group_by": ["n"],
                        "group_wait": "0s",
                        "group_interval": "5m",
                        "repeat_interval": "4h",
                    },
                    "receivers": [
                        {
                            "name": "bench",
                            "webhook_configs": [
                                {"url": f"http://127.0.0.1:{webhook_port}/", "send_resolved": False}
                            ],
                        }
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

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def alertmanager(am: Alertmanager, sink: WebhookSink, n: int, rate: float | None, offset: int) -> dict:
    session = requests.Session()
    url = f"{am.url}/api/v2/alerts"
    run = uuid.uuid4().hex[:6]

    def send(i: int) -> None:
        alert = {
            "labels": {"alertname": "nps_detractor", "n": str(offset + i), "run": run, "severity": "P2"},
            "annotations": {"summary": f"bench-{offset + i} 送货太慢，客服电话一直占线，非常不满意"},
        }
        session.post(url, json=[alert], timeout=10).raise_for_status()

    sent, start, end = paced(n, rate, send)
    deadline = time.monotonic() + max(60, n * 0.2)
    while time.monotonic() < deadline:
        with sink.lock:
            got = {n_ - offset: t for n_, t in sink.got.items() if offset <= n_ < offset + n}
        if len(got) >= n:
            break
        time.sleep(0.1)
    return summarise(sent, got, start, end)


# -- report ----------------------------------------------------------------------


def chart(result: dict, path: Path) -> None:
    """A small grouped bar chart (SVG, no dependencies): p99 latency per offered rate."""
    rates = result["rates"]
    rows = [(r, result["ours"][str(r)], result["alertmanager"][str(r)]) for r in rates]
    values = [x["latency_s"].get("p99", 0) * 1000 for _r, a, b in rows for x in (a, b)]
    top = max(values + [50.0]) * 1.15
    width, height, left, bottom = 560, 300, 60, 40
    plot_h = height - bottom - 30
    group_w = (width - left - 20) / len(rows)
    bars = []
    for index, (rate, us, am) in enumerate(rows):
        for k, (label, data, colour) in enumerate((("ours", us, "#2f6fdf"), ("Alertmanager", am, "#e07b39"))):
            value = data["latency_s"].get("p99", 0) * 1000
            h = plot_h * value / top
            x = left + index * group_w + 20 + k * (group_w / 2 - 15)
            y = height - bottom - h
            bars.append(
                f'<rect x="{x:.0f}" y="{y:.0f}" width="{group_w / 2 - 25:.0f}" height="{h:.0f}" '
                f'fill="{colour}">'
                f"<title>{label} p99 at {rate}/s: {value:.1f} ms</title></rect>"
                f'<text x="{x + (group_w / 2 - 25) / 2:.0f}" y="{y - 4:.0f}" font-size="11" '
                f'text-anchor="middle">{value:.0f} ms</text>'
            )
        bars.append(
            f'<text x="{left + index * group_w + group_w / 2:.0f}" y="{height - bottom + 16}" '
            f'font-size="12" text-anchor="middle">{rate} events/s offered</text>'
        )
    target_y = height - bottom - plot_h * 50 / top
    title = "p99 latency: publish → alert (ours) vs POST → webhook (Alertmanager)"
    svg = f"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"
 font-family="sans-serif">
<text x="{left}" y="18" font-size="13">{title}</text>
<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#333"/>
<line x1="{left}" y1="30" x2="{left}" y2="{height - bottom}" stroke="#333"/>
<line x1="{left}" y1="{target_y:.0f}" x2="{width - 10}" y2="{target_y:.0f}" stroke="#999"
 stroke-dasharray="4 3"/>
<text x="{width - 12}" y="{target_y - 4:.0f}" font-size="10" text-anchor="end" fill="#666">50 ms target</text>
<text x="14" y="{30 + plot_h / 2:.0f}" font-size="11" transform="rotate(-90 14 {30 + plot_h / 2:.0f})"
 text-anchor="middle">ms</text>
{"".join(bars)}
<rect x="{width - 190}" y="36" width="10" height="10" fill="#2f6fdf"/>
<text x="{width - 175}" y="45" font-size="11">ours (publish → alert_raised)</text>
<rect x="{width - 190}" y="52" width="10" height="10" fill="#e07b39"/>
<text x="{width - 175}" y="61" font-size="11">Alertmanager 0.25 (POST → webhook)</text>
</svg>
"""
    path.write_text(svg)


def table(result: dict) -> str:
    ms = lambda s: f"{s * 1000:.1f} ms" if s is not None else "–"  # noqa: E731
    base = result["baseline"]["rate"]
    lines = [
        "| run | events | delivered | offered/s | rate/s | ratio to baseline | p50 | p95 | p99 |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| baseline: raw kombu publish→consume | {result['baseline']['messages']} | "
        f"{result['baseline']['messages']} | | {base:.0f} | 1.000 | | | |",
    ]
    runs = [("ours, burst (publish → alert_raised)", result["burst"])]
    for rate in result["rates"]:
        runs.append((f"ours, paced {rate}/s", result["ours"][str(rate)]))
        runs.append((f"Alertmanager, paced {rate}/s", result["alertmanager"][str(rate)]))
    for name, r in runs:
        lat = r["latency_s"]
        lines.append(
            f"| {name} | {r['events']} | {r['delivered']} | {r['offered_rate']:.0f} | {r['rate']:.1f} | "
            f"{r['rate'] / base:.3f} | {ms(lat.get('p50'))} | {ms(lat.get('p95'))} | {ms(lat.get('p99'))} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="ours vs Alertmanager, ratios in one run")
    parser.add_argument("--events", type=int, default=1000, help="events per burst run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each paced run")
    parser.add_argument("--rates", default="200,1000", help="offered rates, events/s")
    parser.add_argument("--baseline-messages", type=int, default=5000)
    parser.add_argument("--amqp-host", default="127.0.0.1:5672")
    parser.add_argument("--chart", default=str(ROOT / "docs" / "bench-campaign.svg"))
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]

    vhost = make_vhost()
    amqp_uri = f"pyamqp://guest:guest@{args.amqp_host}/{vhost}"
    env = dict(
        os.environ,
        AMQP_URI=amqp_uri,
        MONGO_DB_PREFIX=f"bench{uuid.uuid4().hex[:6]}_",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(free_port()),  # nothing listens: the campaign measures up to the alert
        NOTIFY_MAX_ATTEMPTS="1",
        NOTIFY_FALLBACK_CHANNEL="none",
        LOG_LEVEL="WARNING",
    )
    procs, sink, am = [], WebhookSink(), None
    result: dict = {"rates": rates, "ours": {}, "alertmanager": {}}
    try:
        result["baseline"] = baseline(amqp_uri, args.baseline_messages)
        procs = start_services(env)
        rpc_ready(amqp_uri)
        configure(amqp_uri)
        listener = AlertListener(amqp_uri)
        ours(amqp_uri, listener, 50, None, 9_000_000)  # warm-up
        result["burst"] = ours(amqp_uri, listener, args.events, None, 8_000_000)
        am = Alertmanager(sink.port)
        alertmanager(am, sink, 50, None, 10_000_000)  # warm-up
        for index, rate in enumerate(rates):
            n = int(rate * args.seconds)
            result["ours"][str(rate)] = ours(amqp_uri, listener, n, rate, index * 1_000_000)
            result["alertmanager"][str(rate)] = alertmanager(am, sink, n, rate, index * 1_000_000)
        listener.stop.set()
    finally:
        if am is not None:
            am.close()
        sink.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        drop_vhost(vhost)
        import pymongo

        client = pymongo.MongoClient(os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"))
        for name in client.list_database_names():
            if name.startswith(env["MONGO_DB_PREFIX"]):
                client.drop_database(name)

    base = result["baseline"]["rate"]
    first = str(rates[0])
    result["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["machine"] = (
        f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    result["targets"] = {
        "burst_rate_vs_baseline": {"value": result["burst"]["rate"] / base, "target": 0.40},
        f"p99_ours_vs_alertmanager_at_{first}": {
            "value": result["ours"][first]["latency_s"].get("p99", float("inf"))
            / max(result["alertmanager"][first]["latency_s"].get("p99", 1e-9), 1e-9),
            "target": 1.0,
        },
    }
    if "1000" in result["ours"]:
        result["targets"]["p99_ms_at_1000"] = {
            "value": result["ours"]["1000"]["latency_s"].get("p99", float("inf")) * 1000,
            "target": 50.0,
        }
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(exist_ok=True)
    (out_dir / f"campaign-{result['when'].replace(':', '')}.json").write_text(json.dumps(result, indent=2))
    chart(result, Path(args.chart))
    print(f"machine: {result['machine']}; {result['when']}\n")
    print(table(result))
    print("\n| target | measured | goal | met |\n|---|---|---|---|")
    for name, t in result["targets"].items():
        goal_is_max = name.startswith("p99")
        met = t["value"] <= t["target"] if goal_is_max else t["value"] >= t["target"]
        goal = f"{'≤' if goal_is_max else '≥'} {t['target']}"
        print(f"| {name} | {t['value']:.3f} | {goal} | {'yes' if met else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
