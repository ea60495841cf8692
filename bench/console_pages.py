"""How fast the console's pages answer with a full store (issue 18: every page < 300 ms
with 10,000 cases and 100,000 profiles).

    .venv/bin/python bench/console_pages.py --cases 10000 --profiles 100000
    .venv/bin/python bench/console_pages.py --keep            # keep the filled databases
    .venv/bin/python bench/console_pages.py --reuse cpXXXXXX_  # time them again, no filling

Runs the five services in this process (one nameko ServiceRunner, a fresh vhost and
fresh databases), fills the store through the services' own write paths (profiles:
the recorder's batched ``record_many`` of feedback events; cases: the cases service's
batch intake of alert_raised payloads, its announcements dropped), then signs in as an agent and
as an owner and times each console page ``--repeat`` times over HTTP. Prints a
Markdown table (median, p95, max per page, and whether the median is under the
target) and one JSON line. Timings are a measurement on this machine, never a test.

Iterating without refilling (the fill takes over a minute):

    .venv/bin/python bench/console_pages.py --keep            # prints the prefix it kept
    .venv/bin/python bench/console_pages.py --reuse cpab12cd_ --only case --trace

``--keep`` leaves the filled databases in the store (drop them by hand, or with a
last ``--reuse PREFIX`` run without ``--keep``); ``--reuse PREFIX`` times pages on
databases a ``--keep`` run filled (``--cases``/``--profiles`` then only name the
profile the profile page opens). ``--only WORD`` times the pages whose name holds
WORD (repeatable). ``--trace`` prints, per page, the store commands and the RPC
calls one request made: count and milliseconds by database, command and collection,
and by RPC method (both sides run in this process; the services' timers count too).
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402  (nameko in-process: before sockets are imported)

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pymongo  # noqa: E402
import requests  # noqa: E402
import yaml  # noqa: E402
from nameko import config  # noqa: E402
from nameko import rpc as nameko_rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.rpc import ClusterRpcClient  # noqa: E402
from pymongo import monitoring  # noqa: E402

from bench.pipeline import drop_vhost, make_vhost  # noqa: E402
from contracts.feedback import parse_feedback  # noqa: E402
from services.alerts.service import AlertsService  # noqa: E402
from services.cases import intake  # noqa: E402
from services.cases.context import Context  # noqa: E402
from services.cases.service import CasesService  # noqa: E402
from services.cases.store import CaseStore  # noqa: E402
from services.gateway.service import GatewayService  # noqa: E402
from services.notify.service import NotifyService  # noqa: E402
from services.profiles.recordings import feedback_recording  # noqa: E402
from services.profiles.service import ProfilesService  # noqa: E402
from services.profiles.store import ProfileStore  # noqa: E402
from tests.conftest import free_port  # noqa: E402

TARGET_MS = 300.0
TOUCHPOINTS = ("delivery", "installation", "store_visit", "after_sales", "repair", "billing")
TEXTS = ("快递三天都没到，太慢了", "安装师傅态度很好", "账单多扣了钱", "客服一直不回复", "产品质量不错")
USERS = [
    {"id": "chen.jie", "name": "陈杰", "role": "agent", "teams": ["cx-care"], "password": "agent-password-1"},
    {"id": "zhao.min", "name": "赵敏", "role": "owner", "password": "owner-password-1"},
]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Trace(monitoring.CommandListener):
    """Store commands (a CommandListener) and RPC calls (nameko's Client wrapped) while on."""

    def __init__(self):
        self.on = False
        self.commands: dict[tuple, list[float]] = {}
        self.calls: dict[str, list[float]] = {}
        self.pending: dict[int, tuple] = {}

    def reset(self):
        self.commands, self.calls, self.pending = {}, {}, {}

    def started(self, event):
        if self.on:
            target = event.command.get(event.command_name)
            collection = target if isinstance(target, str) else "-"
            self.pending[event.request_id] = (event.database_name, event.command_name, collection)

    def _done(self, event):
        key = self.pending.pop(event.request_id, None)
        if key is not None:
            self.commands.setdefault(key, []).append(event.duration_micros / 1000)

    succeeded = failed = _done

    def wrap_rpc(self):
        call = nameko_rpc.Client.__call__
        trace = self

        def traced(client, *args, **kwargs):
            if not trace.on:
                return call(client, *args, **kwargs)
            started = time.perf_counter()
            try:
                return call(client, *args, **kwargs)
            finally:
                ms = (time.perf_counter() - started) * 1000
                trace.calls.setdefault(client.identifier, []).append(ms)

        nameko_rpc.Client.__call__ = traced

    def report(self, name: str, total_ms: float) -> str:
        lines = [f"### {name}: {total_ms:.0f} ms"]
        for key, ms in sorted(self.calls.items(), key=lambda kv: -sum(kv[1])):
            lines.append(f"  rpc {key}: {len(ms)} calls, {sum(ms):.0f} ms")
        for key, ms in sorted(self.commands.items(), key=lambda kv: -sum(kv[1])):
            lines.append(f"  store {'.'.join(key)}: {len(ms)}, {sum(ms):.0f} ms")
        return "\n".join(lines)


TRACE = Trace()


def event(n: int, now: datetime) -> dict:
    return {
        "schema_version": 1,
        "event_id": f"bench-{n}",
        "source": "bench",
        "occurred_at": (now - timedelta(minutes=n % 40_000)).isoformat(),
        "customer": {
            "id": f"C{n}",
            "name": f"客户{n}",
            "phone": f"138{n:08d}",
            "tier": "vip" if n % 20 == 0 else "standard",
        },
        "channel": "wechat",
        "touchpoint": TOUCHPOINTS[n % len(TOUCHPOINTS)],
        "scores": {"nps": n % 11},
        "text": TEXTS[n % len(TEXTS)],
    }


def alert(n: int, now: datetime) -> dict:
    e = event(n, now)
    owner = {"kind": "person", "id": "chen.jie"} if n % 3 == 0 else {"kind": "team", "id": "cx-care"}
    return {
        "alert_id": f"AL-bench-{n}",
        "raised_at": now - timedelta(minutes=n % 5_000),
        "level": ("P1", "P2", "P3", "P4")[n % 4],
        "rule": {"id": "bench-detractor", "version": 1, "name": "NPS 贬损者"},
        "owner": owner,
        "channels": ["email"],
        "customer": {"id": e["customer"]["id"], "name": e["customer"]["name"], "tier": e["customer"]["tier"]},
        "event": {
            "source": "bench",
            "event_id": e["event_id"],
            "occurred_at": datetime.fromisoformat(e["occurred_at"]),
            "channel": "wechat",
            "touchpoint": e["touchpoint"],
            "scores": e["scores"],
            "text": e["text"],
            "tags": [],
        },
        "trace": [{"field": "scores.nps", "op": "lte", "value": 6, "actual": e["scores"]["nps"], "ok": True}],
    }


def fill(mongo_uri: str, prefix: str, rpc, n_profiles: int, n_cases: int) -> dict:
    now = datetime.now(UTC)
    client = pymongo.MongoClient(mongo_uri, tz_aware=True)
    profiles = ProfileStore(client[f"{prefix}profiles"])
    started = time.perf_counter()
    for start in range(0, n_profiles, 500):
        profiles.recorder.record_many(
            [
                feedback_recording(parse_feedback(event(n, now)))
                for n in range(start, min(start + 500, n_profiles))
            ]
        )
    filled_profiles = time.perf_counter() - started
    started = time.perf_counter()
    cases = CaseStore(client[f"{prefix}cases"])
    context = Context(cases, lambda *_: None, lambda: now)  # what it would announce is dropped
    for start in range(0, n_cases, 200):
        intake.take_in_batch(context, [alert(n, now) for n in range(start, min(start + 200, n_cases))])
    filled_cases = time.perf_counter() - started
    return {"profiles_seconds": round(filled_profiles, 1), "cases_seconds": round(filled_cases, 1)}


def log_in(url: str, user: dict) -> requests.Session:
    session = requests.Session()
    form = session.get(url + "/login")
    token = CSRF.search(form.text).group(1)
    r = session.post(
        url + "/login",
        data={"username": user["id"], "password": user["password"], "csrf_token": token},
        allow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return session


def time_page(session: requests.Session, url: str, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        r = session.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
    return times


def drop(mongo_uri: str, prefix: str) -> None:
    client = pymongo.MongoClient(mongo_uri)
    for name in client.list_database_names():
        if name.startswith(prefix):
            client.drop_database(name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="leave the filled databases in the store")
    parser.add_argument("--reuse", metavar="PREFIX", help="time pages on databases a --keep run filled")
    parser.add_argument("--only", action="append", metavar="WORD", help="only pages whose name holds WORD")
    parser.add_argument("--trace", action="store_true", help="store commands and RPC calls per page")
    args = parser.parse_args()
    if args.trace:
        monitoring.register(TRACE)  # before the services' clients are made
        TRACE.wrap_rpc()
    mongo_uri = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")
    vhost = make_vhost()
    prefix = args.reuse or f"cp{uuid.uuid4().hex[:6]}_"
    port = free_port()
    patch = {
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:5672/{vhost}",
        "MONGO_URI": mongo_uri,
        "MONGO_DB_PREFIX": prefix,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "GATEWAY_RATE_PER_MINUTE": 0,
    }
    url = f"http://127.0.0.1:{port}"
    results, traces = [], []
    filled: dict = {"reused": prefix} if args.reuse else {}
    with config.patch(patch):
        runner = ServiceRunner()
        for cls in (AlertsService, CasesService, ProfilesService, NotifyService, GatewayService):
            runner.add_service(cls)
        runner.start()
        try:
            with ClusterRpcClient(timeout=60) as rpc:
                if not args.reuse:
                    rpc.cases.apply_agents(
                        yaml.safe_load((ROOT / "samples" / "agents.yaml").read_text(encoding="utf-8"))
                    )
                    for user in USERS:
                        rpc.gateway.put_user(user)
                    filled = fill(mongo_uri, prefix, rpc, args.profiles, args.cases)
                case_id = rpc.cases.list_cases(limit=1)[0]["_id"]
            agent, owner = log_in(url, USERS[0]), log_in(url, USERS[1])
            for name, session, path in pages(agent, owner, case_id, min(12345, args.profiles - 1)):
                if args.only and not any(word in name for word in args.only):
                    continue
                times = time_page(session, url + path, args.repeat)
                if args.trace:
                    TRACE.reset()
                    TRACE.on = True
                    one = time_page(session, url + path, 1)[0]
                    TRACE.on = False
                    traces.append(TRACE.report(name, one))
                results.append(summary(name, path, times))
        finally:
            runner.kill()
            drop_vhost(vhost)
            if args.keep or args.reuse:
                print(f"databases kept: --reuse {prefix}", file=sys.stderr)
            else:
                drop(mongo_uri, prefix)
    print(f"{args.cases} cases, {args.profiles} profiles (filled in {filled}); {args.repeat} requests each\n")
    print("| page | median ms | p95 ms | max ms | median < 300 ms |\n|---|---|---|---|---|")
    for r in results:
        met = "yes" if r["median_ms"] < TARGET_MS else "**no**"
        print(f"| {r['page']} | {r['median_ms']} | {r['p95_ms']} | {r['max_ms']} | {met} |")
    for text in traces:
        print("\n" + text)
    print(json.dumps({"cases": args.cases, "profiles": args.profiles, "filled": filled, "pages": results}))
    return 0


def pages(agent, owner, case_id: str, someone: int) -> list[tuple]:
    """(name, session, path) of every page timed."""
    return [
        ("queue (agent, default view)", agent, "/cases"),
        ("queue (owner, all)", owner, "/cases"),
        ("queue, newest (owner)", owner, "/cases?sort=newest"),
        ("case page", owner, f"/cases/{case_id}"),
        ("case page (agent)", agent, f"/cases/{case_id}"),
        ("profile page", owner, f"/customers/C{someone}"),
        ("customer search by phone", owner, f"/customers?phone=138{someone:08d}"),
        ("dashboard (30 days)", owner, "/dashboard"),
        ("board: mine", agent, "/boards/mine"),
        ("board: team", agent, "/boards/team"),
        ("board: journey", owner, "/boards/journey"),
        ("rules", owner, "/rules"),
    ]


def summary(name: str, path: str, times: list[float]) -> dict:
    ordered = sorted(times)
    return {
        "page": name,
        "path": path,
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(ordered[max(0, int(len(ordered) * 0.95) - 1)], 1),
        "max_ms": round(ordered[-1], 1),
    }


if __name__ == "__main__":
    sys.exit(main())
