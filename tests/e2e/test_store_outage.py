"""MongoDB dies mid-stream: nothing is dead-lettered, nothing is lost, work resumes.

The services run against a private embedded MongoDB server (its own port and
data directory) so that killing it disturbs nothing else.
"""

import json
import subprocess
import time
from pathlib import Path

import pytest
from kombu import Connection
from nameko.standalone.rpc import ClusterRpcClient

from cxctl.broker import wait_queues_idle
from cxctl.publish import FeedbackPublisher
from services.alerts.service import AlertsService
from services.cases.service import CasesService
from services.common.mongo import database_name, make_client
from services.notify.service import NotifyService
from services.profiles.service import ProfilesService
from tests.conftest import free_port, wait_until
from tests.e2e.test_pipeline import RECIPIENTS, RULES

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / ".venv-mongo" / "bin" / "nx-27017"


class PrivateMongo:
    """An nx-27017 process of our own that the test may kill -9 and restart."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.port = free_port()
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        self.process = None
        self.start()

    def start(self):
        (self.directory / "data").mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                str(SERVER),
                "--data-dir",
                str(self.directory / "data"),
                "-p",
                str(self.port),
                "--log-file",
                str(self.directory / "mongo.log"),
                "--pid-file",
                str(self.directory / "mongo.pid"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = make_client(self.uri)
        # generous: a loaded 2-core machine can take most of a minute to start it
        wait_until(lambda: self._ping(client), timeout=90, message="the private MongoDB")
        client.close()

    @staticmethod
    def _ping(client):
        try:
            return client.admin.command("ping")["ok"]
        except Exception:
            return False

    def kill(self):
        self.process.kill()  # SIGKILL: no clean shutdown
        self.process.wait(timeout=10)
        (self.directory / "mongo.pid").unlink(missing_ok=True)


@pytest.fixture
def private_mongo(tmp_path):
    if not SERVER.exists():
        pytest.fail(f"{SERVER} is missing: run scripts/test.sh, which installs it")
    server = PrivateMongo(tmp_path)
    yield server
    if server.process.poll() is None:
        server.kill()


def detractor(n):
    return json.dumps(
        {
            "schema_version": 1,
            "event_id": f"outage-{n}",
            "source": "survey-app",
            "occurred_at": "2026-11-20T10:00:00+08:00",
            "customer": {"id": f"O{n}", "name": "测试"},
            "channel": "app",
            "scores": {"nps": 1},
            "text": f"第{n}次反馈：客服一直不回复",
        }
    )


def dead_letters_queued(amqp_uri):
    with Connection(amqp_uri) as conn:
        total = 0
        for queue in ("cx.feedback.alerts.dlq", "cx.feedback.profiles.dlq"):
            _, count, _ = conn.default_channel.queue_declare(queue, passive=True)
            total += count
        return total


def test_mongodb_killed_mid_stream_loses_and_dead_letters_nothing(
    rabbit_config, runner_factory, private_mongo, smtp_sink, db_prefix
):
    from nameko import config

    with config.patch(
        {
            "MONGO_URI": private_mongo.uri,
            "MONGO_DB_PREFIX": db_prefix,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": smtp_sink.port,
            "STORE_RETRY_DELAY": 0.5,
            "INBOX_LEASE_SECONDS": 3,
        }
    ):
        amqp_uri = config["AMQP_URI"]
        runner = runner_factory(AlertsService, CasesService, ProfilesService, NotifyService)
        runner.start()
        with ClusterRpcClient(timeout=15) as rpc:
            rpc.alerts.apply_rules(RULES)
            rpc.notify.apply_recipients(RECIPIENTS)

        with FeedbackPublisher(amqp_uri) as publisher:
            for n in range(15):
                publisher.publish(detractor(n))
        private_mongo.kill()
        with FeedbackPublisher(amqp_uri) as publisher:
            for n in range(15, 30):
                publisher.publish(detractor(n))
        time.sleep(8)  # the services fail against the dead store for a while
        assert dead_letters_queued(amqp_uri) == 0

        private_mongo.start()  # same data directory, as after a crash
        wait_until(
            lambda: len({m["Message-ID"] for m in smtp_sink.messages()}) >= 30,
            timeout=120,
            message="30 distinct emails",
        )
        assert wait_queues_idle(amqp_uri, quiet=6, timeout=120)

        client = make_client(private_mongo.uri)
        alerts = client[database_name("alerts")]
        cases = client[database_name("cases")]
        assert alerts.alerts.count_documents({}) == 30
        assert alerts.feedback_inbox.count_documents({"state": "done"}) == 30
        assert cases.cases.count_documents({"status": "assigned"}) == 30
        assert client[database_name("profiles")].profiles.count_documents({}) == 30
        for name in ("alerts", "cases", "profiles", "notify"):
            assert client[database_name(name)].dead_letters.count_documents({}) == 0, name
        assert dead_letters_queued(amqp_uri) == 0
        mails = smtp_sink.messages()
        ids = [m["Message-ID"] for m in mails]
        assert len(set(ids)) == 30
        # Email is at-least-once across a crash between "sent" and "recorded";
        # a resend carries the same Message-ID, so mail clients show it once.
        print(f"emails: {len(mails)} raw, {len(set(ids))} distinct Message-IDs")
        client.close()
