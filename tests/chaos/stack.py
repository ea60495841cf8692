"""The whole stack as real processes that a chaos run may kill -9 and restart.

Everything is private to the run: a RabbitMQ node of its own
(tests/cluster/rabbitcluster.py with one node), an nx-27017 of its own
(tests/e2e/test_store_outage.PrivateMongo), an aiosmtpd Maildir sink, and one
``nameko run`` process per service (deploy/config.yaml, settings from the
environment). The shared broker and store of the rest of the suite are never
touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from contracts.feedback import parse_feedback
from services.alerts.engine import Engine
from services.alerts.memory import MemoryState
from services.alerts.rules import load_rules

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("alerts", "cases", "profiles", "notify")

RULES = {
    "rules": [
        {
            "id": "chaos-detractor",
            "name": "NPS 贬损者",
            "level": "P2",
            "owner": {"kind": "person", "id": "li.na"},
            "channels": ["email"],
            "when": {"all": [{"field": "scores.nps", "op": "lte", "value": 6}]},
        },
        {
            "id": "chaos-refund",
            "name": "退款投诉",
            "level": "P3",
            "owner": {"kind": "person", "id": "li.na"},
            "channels": ["email"],
            "when": {"all": [{"field": "text", "op": "contains_any", "value": ["退款"]}]},
        },
        {
            # rare and urgent: escalated after seconds, sent to IM and the signed webhook too
            "id": "chaos-urgent",
            "name": "贬损者要求退款",
            "level": "P1",
            "owner": {"kind": "person", "id": "li.na"},
            "channels": ["email", "feishu", "webhook"],
            "when": {
                "all": [
                    {"field": "scores.nps", "op": "lte", "value": 2},
                    {"field": "text", "op": "contains_any", "value": ["退款"]},
                ]
            },
        },
    ]
}
URGENT_RULE = "chaos-urgent"
# P1 cases nobody acknowledges: one reminder to the owner 3 s after opening, on every channel
ESCALATION = {
    "id": "default",  # the policy cases snapshot at open
    "levels": {
        "P1": {"stop_on": "acknowledge", "repeat": 0, "steps": [{"after_minutes": 0.05, "notify": "owner"}]}
    },
}
FEISHU_SECRET = "chaos-feishu-secret"
WEBHOOK_SECRET = "chaos-webhook-shared-secret"


def recipients(feishu_url: str, webhook_url: str) -> dict:
    handles = {
        "feishu": {"webhook": feishu_url, "secret": FEISHU_SECRET, "format": "text"},
        "webhook": {"url": webhook_url, "secret": WEBHOOK_SECRET},
    }
    person = {"id": "li.na", "name": "李娜", "email": "li.na@example.com", "language": "zh-CN"}
    return {"people": [{**person, "handles": handles}]}


def expected_counts(events: int, alerts: set[tuple[str, str]]) -> dict:
    """What the stores and receivers must hold once the pipeline drained."""
    urgent = sum(1 for rule, _ in alerts if rule == URGENT_RULE)
    return {
        "evaluated": events,
        "alerts": len(alerts),
        "cases": len(alerts),  # one customer per event, one topic per rule
        "profiles_events": events,
        "profiles_alerts": len(alerts),
        "profiles_cases": len(alerts),
        "escalations_fired": urgent,
        "emails": len(alerts) + urgent,  # every assignment, and the P1 reminders
        "feishu": 2 * urgent,  # assignment and reminder
        "webhook": 2 * urgent,
    }


TEXTS = [
    "物流太慢了，三天没到",
    "我要退款，商品有质量问题",
    "服务很好，谢谢",
    "不是要退款，只是问问发票",
    "安装师傅态度不错",
]


def events(n: int, run: str) -> list[dict]:
    """A realistic mix, one customer per event (so every alert opens its own case)."""
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    out = []
    for i in range(n):
        out.append(
            {
                "schema_version": 1,
                "event_id": f"{run}-{i}",
                "source": "chaos",
                "occurred_at": (start + timedelta(seconds=i)).isoformat(),
                "customer": {"id": f"{run}-C{i}", "name": "客户", "phone": "13800138000"},
                "channel": ["app", "wechat", "phone"][i % 3],
                "touchpoint": ["delivery", "billing", "installation"][i % 3],
                # about one in five raises an alert: detractors and refund complaints
                "scores": {"nps": 2 if i % 7 == 0 else 8 + i % 3},
                "text": TEXTS[i % len(TEXTS)] if i % 4 == 0 else "还可以",
            }
        )
    return out


MALFORMED = [b"{not json", b'{"schema_version": 1}', b'{"schema_version": 99, "event_id": "x"}']


def oracle(batch: Iterable[dict]) -> set[tuple[str, str]]:
    """(rule, event) of every alert the pure engine raises on these events, in order."""
    rules = [{**r, "version": 1, "enabled": True, "deleted": None} for r in load_rules(RULES)]
    engine = Engine(MemoryState())
    raised = set()
    for event in batch:
        parsed = parse_feedback(json.dumps(event))
        for outcome in engine.process(rules, parsed, parsed["occurred_at"]):
            if outcome.outcome == "raised":
                raised.add((outcome.rule_id, outcome.alert["event"]["event_id"]))
    return raised


class ServiceProcesses:
    """One ``nameko run`` per service; kill -9 and restart any of them.

    Like a container runtime's restart policy, a supervisor thread restarts a
    process that exited on its own (e.g. it was starting while the broker was
    down); one killed by ``kill`` stays down until ``start``.
    """

    def __init__(self, env: dict, log_dir: Path, replicas: dict[str, int] | None = None):
        self.env = env
        self.log_dir = log_dir
        self.replicas = replicas or {}
        self.procs: dict[str, subprocess.Popen] = {}
        self.services: dict[str, str] = {}
        self.down: set[str] = set()
        self.restarts: list[str] = []
        self.stopping = threading.Event()
        # a restart and stop_all never interleave: a process the supervisor started while
        # stop_all collected the others outlived the run (found after a 10,000-event run)
        self.lock = threading.Lock()
        self.supervisor = threading.Thread(target=self._supervise, daemon=True)

    def _supervise(self) -> None:
        while not self.stopping.wait(1.0):
            with self.lock:
                if self.stopping.is_set():
                    return
                for name, proc in list(self.procs.items()):
                    if proc.poll() is not None and name not in self.down:
                        self.restarts.append(f"{time.strftime('%H:%M:%S')} {name} exited {proc.returncode}")
                        self.start(name, self.services[name])

    def start(self, name: str, service: str | None = None) -> None:
        service = service or name
        self.services[name] = service
        self.down.discard(name)
        log = open(self.log_dir / f"{name}.log", "a")  # noqa: SIM115 - lives with the process
        self.procs[name] = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "nameko"),
                "run",
                "--config",
                str(ROOT / "deploy" / "config.yaml"),
                f"services.{service}.service",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_all(self) -> None:
        for service in SERVICES:
            for replica in range(self.replicas.get(service, 1)):
                self.start(service if replica == 0 else f"{service}-{replica}", service)
        self.supervisor.start()

    def kill(self, name: str) -> None:
        self.down.add(name)
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop_all(self) -> None:
        self.stopping.set()
        with self.lock:  # after any restart under way: the supervisor starts nothing more
            self.down.update(self.procs)
            procs = list(self.procs.values())
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def cxctl(amqp_uri: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "cxctl"), "--amqp-uri", amqp_uri, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_services(amqp_uri: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cxctl(amqp_uri, "--timeout", "3", "stats").returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError("the services did not answer")


class Receivers:
    """The local vendor endpoints a chaos run's notifications go to (real HTTP)."""

    def __init__(self):
        from services.notify.channels.feishu.fake import FakeFeishu
        from services.notify.channels.webhook.fake import FakeWebhookReceiver

        self.feishu = FakeFeishu(secret=FEISHU_SECRET)
        self.webhook = FakeWebhookReceiver(secret=WEBHOOK_SECRET)

    def recipients(self) -> dict:
        return recipients(self.feishu.webhook, self.webhook.url)

    def counts(self) -> dict:
        return {"feishu": len(self.feishu.accepted), "webhook": len(self.webhook.accepted)}

    def close(self) -> None:
        self.feishu.close()
        self.webhook.close()


def configure(amqp_uri: str, work: Path, receivers: Receivers) -> None:
    rules, people, policy = work / "rules.json", work / "recipients.json", work / "escalation.json"
    rules.write_text(json.dumps(RULES, ensure_ascii=False))
    people.write_text(json.dumps(receivers.recipients(), ensure_ascii=False))
    policy.write_text(json.dumps(ESCALATION))
    for args in (
        ("rules", "apply", str(rules)),
        ("recipients", "apply", str(people)),
        ("cases", "escalation", "apply", str(policy)),
    ):
        result = cxctl(amqp_uri, *args)
        if result.returncode != 0:
            raise RuntimeError(f"cxctl {' '.join(args)}: {result.stderr}")


def service_env(amqp_uri: str, mongo_uri: str, smtp_port: int, **extra: str) -> dict:
    return dict(
        os.environ,
        AMQP_URI=amqp_uri,
        MONGO_URI=mongo_uri,
        MONGO_DB_PREFIX=f"chaos{uuid.uuid4().hex[:6]}_",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        LOG_LEVEL="WARNING",
        # a worker killed mid-message leaves a lease; its redelivery takes over after this
        INBOX_LEASE_SECONDS="5",
        STORE_RETRY_DELAY="0.5",
        RETRY_BACKOFF_BASE="0.5",
        ESCALATION_SWEEP_SECONDS="2",
        **extra,
    )


def faults(services: ServiceProcesses, mongo, broker) -> dict:
    """The fault injectors a chaos run schedules, by name (each blocks until recovered)."""

    def kill(name: str):
        def fault():
            services.kill(name)
            time.sleep(2)
            services.start(name, services.services[name])

        fault.__name__ = f"kill -9 {name}, restarted"
        return fault

    def kill_store():
        mongo.kill()
        time.sleep(3)
        mongo.start()

    def kill_broker():
        broker.kill(0)
        broker.start(0)

    return {"kill": kill, "kill_store": kill_store, "kill_broker": kill_broker}
