"""The full chaos run, as a command (the CI-size variant is tests/chaos/test_chaos_ci.py).

    .venv/bin/python -m tests.chaos.run --events 10000

On a private broker node and store (nothing shared is touched), with two
replicas of each of the four services as supervised ``nameko run``
processes, it publishes the events plus malformed messages and, spread over the
stream: ``kill -9`` of one replica of each service (and of both alerts replicas, one
after the other; each restarted 2 s later),
a rules reload and a template reload over RPC, a ``kill -9`` of the MongoDB
server and of the broker node (both restarted on their data). Then it waits
for the pipeline to drain and reconciles with the oracle (the pure rule
engine run offline on the same events), printing a table; the exit status is
0 only when every figure matches. Figures go to docs/reliability.md.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402  (as the root conftest: before anything imports sockets)

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from kombu import Connection  # noqa: E402

from services.common.messaging import HEADER_REASON, dead_letter_queue  # noqa: E402
from services.common.mongo import make_client  # noqa: E402
from tests.chaos import stack  # noqa: E402
from tests.chaos.test_chaos_ci import counts, duplicates, publish_through_faults, raw  # noqa: E402
from tests.cluster.rabbitcluster import RabbitCluster  # noqa: E402
from tests.conftest import SmtpSink  # noqa: E402
from tests.e2e.test_store_outage import PrivateMongo  # noqa: E402

TEMPLATE = "zh-CN/alert_raised.txt.j2"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="publish at this many events/s (default: as fast as confirms allow)",
    )
    parser.add_argument("--drain-timeout", type=float, default=3600)
    parser.add_argument(
        "--stall-timeout", type=float, default=180, help="stop waiting when no count moved for this long"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cx-chaos-"))
    (work / "logs").mkdir()
    began = time.monotonic()
    pace = f"published at {args.rate:g}/s" if args.rate else "published as fast as confirms allow"
    print(f"chaos run: {args.events} events, {pace}; work directory {work}", flush=True)
    with RabbitCluster(nodes=1, prefix=f"chaosrun{int(time.time())}") as broker:
        mongo = PrivateMongo(work / "mongo")
        sink = SmtpSink(work / "mail")
        receivers = stack.Receivers()
        env = stack.service_env(broker.amqp_uri, mongo.uri, sink.port)
        services = stack.ServiceProcesses(env, work / "logs", replicas=dict.fromkeys(stack.SERVICES, 2))
        try:
            services.start_all()
            stack.wait_services(broker.amqp_uri)
            stack.configure(broker.amqp_uri, work, receivers)
            batch = stack.events(args.events, "full")
            expected_alerts = stack.oracle(batch)
            bodies = [json.dumps(e, ensure_ascii=False).encode("utf-8") for e in batch]
            bodies[len(bodies) // 10 : len(bodies) // 10] = stack.MALFORMED

            inject = stack.faults(services, mongo, broker)
            kill = inject["kill"]

            def reload_rules():
                stack.configure(broker.amqp_uri, work, receivers)

            def reload_template():
                # an admin edit mid-stream: the same text plus a comment, saved over RPC
                shown = stack.cxctl(broker.amqp_uri, "notify", "templates", "show", TEMPLATE)
                path = work / "template.j2"
                path.write_text(shown.stdout + "{# edited during the chaos run #}\n")
                saved = stack.cxctl(broker.amqp_uri, "notify", "templates", "save", TEMPLATE, str(path))
                if shown.returncode or saved.returncode:
                    raise RuntimeError(f"template reload failed: {shown.stderr} {saved.stderr}")

            plan = [
                kill("alerts"),
                kill("alerts-1"),
                reload_rules,
                kill("cases"),
                inject["kill_store"],
                kill("profiles"),
                reload_template,
                kill("notify"),
                inject["kill_broker"],
            ]
            step = len(bodies) // (len(plan) + 1)
            faults = {step * (k + 1): fault for k, fault in enumerate(plan)}
            fault_log = publish_through_faults(broker.amqp_uri, bodies, faults, args.rate)
            published = time.monotonic()
            print(
                f"published {len(bodies)} messages in {published - began:.0f} s; faults: {fault_log}",
                flush=True,
            )

            prefix = env["MONGO_DB_PREFIX"]
            client = make_client(mongo.uri)
            expected = stack.expected_counts(args.events, expected_alerts)
            deadline = time.monotonic() + args.drain_timeout
            last, still_since, shown = None, time.monotonic(), 0.0
            while time.monotonic() < deadline:
                now_counts = counts(client, prefix, sink, receivers)
                if now_counts == expected:
                    break
                if now_counts != last:
                    last, still_since = now_counts, time.monotonic()
                elif time.monotonic() - still_since > args.stall_timeout:
                    print(
                        f"no progress for {args.stall_timeout:.0f} s: reconciling what is there", flush=True
                    )
                    break
                if time.monotonic() - shown >= 30:
                    shown = time.monotonic()
                    print(f"{time.strftime('%H:%M:%S')} {now_counts}", flush=True)
                time.sleep(5)
            drained = time.monotonic()
            time.sleep(10)
            final = counts(client, prefix, sink, receivers)
            alerts = client[f"{prefix}alerts"].alerts.find({}, {"rule": 1, "event": 1})
            got_alerts = [(a["rule"]["id"], a["event"]["event_id"]) for a in alerts]
            copies = duplicates(sink, receivers)
            dead = {}
            with Connection(broker.amqp_uri) as conn:
                for service in ("alerts", "profiles"):
                    queue = dead_letter_queue(f"cx.feedback.{service}")(conn.default_channel)
                    letters = []
                    while (message := queue.get(no_ack=True)) is not None:
                        letters.append((raw(message.body), message.headers.get(HEADER_REASON)))
                    dead[service] = letters
        finally:
            services.stop_all()
            sink.stop()
            receivers.close()
            if mongo.process.poll() is None:
                mongo.kill()

    checks = {
        **{name: (final[name], expected[name]) for name in expected},
        "alert set equals the oracle": (set(got_alerts) == expected_alerts, True),
        "duplicate alerts": (len(got_alerts) - len(set(got_alerts)), 0),
        "duplicate emails (Message-ID)": (copies["emails"], 0),
        "duplicate webhooks (X-CX-Delivery-Id)": (copies["webhook"], 0),
        # at least once: a consumer killed between the confirmed DLQ publish and the ack
        # leaves a second copy, so distinct bodies are reconciled (copies are printed)
        "dead-lettered bodies per feedback queue, all malformed and with a reason": (
            {s: len({b for b, r in v if r}) for s, v in dead.items()},
            {s: len(stack.MALFORMED) for s in dead},
        ),
        "valid events dead-lettered": (
            sum(1 for v in dead.values() for b, _ in v if b not in stack.MALFORMED),
            0,
        ),
    }
    print("\ndead-letter copies:", {s: len(v) for s, v in dead.items()})
    print("\nfaults:")
    for line in fault_log + [f"supervisor: {r}" for r in services.restarts]:
        print(f"- {line}")
    print("\n| check | measured | expected | ok |\n|---|---|---|---|")
    ok = True
    for name, (measured, wanted) in checks.items():
        ok &= measured == wanted
        print(f"| {name} | {measured} | {wanted} | {'yes' if measured == wanted else 'NO'} |")
    print(
        f"\nwall time {time.monotonic() - began:.0f} s (publishing {published - began:.0f} s, "
        f"drained after {drained - began:.0f} s); "
        f"{args.events / (time.monotonic() - began):.1f} events/s overall"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
