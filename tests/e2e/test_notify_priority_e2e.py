"""P1 goes first (services/notify/priority.py), on the real broker, store and SMTP: a P1
request published after a backlog of P3 ones is mailed first; a queue an earlier
version declared without priorities keeps working oldest first, and
``cxctl notify priority-queue --apply`` moves it over without losing a request."""

import logging
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from click.testing import CliRunner
from kombu import Connection, Exchange, Queue
from nameko import config
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcClient

from cxctl.main import cli
from services.common.messaging import ConfirmedBatchPublisher, ContractDispatcher
from services.notify.directory import load_directory
from services.notify.queue_upgrade import REQUESTS_EXCHANGE, REQUESTS_QUEUE, REQUESTS_ROUTING_KEY
from services.notify.service import NotifyService
from services.notify.store import NotifyStore
from tests.conftest import wait_until
from tests.e2e.test_pipeline import db_of

BACKLOG = 30


@pytest.fixture(autouse=True)
def one_send_at_a_time(cx_config):
    """One batch and one send at a time, so that the order mails arrive in is the order
    they were sent in (several concurrent SMTP sessions finish in any order)."""
    with config.patch({"NOTIFY_SEND_CONCURRENCY": 1, "BATCH_CONCURRENCY": 1}):
        yield


class CasesPublisher:
    """Publishes requests through the cases service's own dispatcher (its priorities)."""

    name = "cases"
    dispatch = ContractDispatcher()

    @rpc
    def request(self, first: int, count: int, level: str) -> None:
        for n in range(first, first + count):
            title = f"{level}-{n}"
            self.dispatch(
                "notification_requested",
                {
                    "notification_id": f"prio-{n}",
                    "requested_at": datetime.now(UTC),
                    "kind": "case_assigned",
                    "recipient": {"kind": "person", "id": "li.na"},
                    "channels": ["email"],
                    "level": level,
                    "case_id": f"CASE-{n}",
                    "context": {
                        "case_id": f"CASE-{n}",
                        "case_url": "http://c",
                        "title": title,
                        "level": level,
                    },
                },
            )


def recipients(mongo_client) -> NotifyStore:
    store = NotifyStore(db_of(mongo_client, "notify"))
    store.ensure_indexes()
    store.apply_directory(
        load_directory({"people": [{"id": "li.na", "name": "李娜", "email": "li.na@example.com"}]})
    )
    return store


def arrival_order(smtp_sink) -> list[str]:
    """The titles of the mails, in the order the SMTP server stored them (a Maildir
    file name starts with its seconds and microseconds)."""
    files = [f for sub in ("new", "cur") for f in (smtp_sink.directory / sub).iterdir()]

    def stamp(path):
        seconds, micro = path.name.split(".")[:2]
        return int(seconds), int(micro.split("P")[0].lstrip("M"))

    subjects = [
        message_from_bytes(f.read_bytes(), policy=policy.default)["Subject"] for f in sorted(files, key=stamp)
    ]
    return [s.split("】", 1)[1] for s in subjects]


def backlog_then_p1(first: int) -> None:
    with ClusterRpcClient(timeout=30) as client:
        client.cases.request(first, BACKLOG, "P3")
        client.cases.request(first + BACKLOG, 1, "P1")


def test_a_p1_published_after_a_backlog_of_p3_is_delivered_first(
    cx_config, container_factory, smtp_sink, mongo_client
):
    recipients(mongo_client)
    container_factory(CasesPublisher).start()
    notify = container_factory(NotifyService)
    notify.start()  # declares its queue (a priority queue) ...
    notify.stop()  # ... and is down while the backlog builds up
    backlog_then_p1(0)
    container_factory(NotifyService).start()
    wait_until(lambda: smtp_sink.count() == BACKLOG + 1, timeout=60, message="every mail")
    order = arrival_order(smtp_sink)
    assert order[0] == f"P1-{BACKLOG}", order
    assert sorted(order[1:]) == sorted(f"P3-{n}" for n in range(BACKLOG))


def test_an_earlier_oldest_first_queue_keeps_working_and_is_moved_over(
    cx_config, container_factory, smtp_sink, mongo_client, caplog
):
    recipients(mongo_client)
    uri = cx_config["AMQP_URI"]
    with Connection(uri) as connection:  # the queue as an earlier version declared it
        exchange = Exchange(REQUESTS_EXCHANGE, type="topic", durable=True)
        Queue(REQUESTS_QUEUE, exchange, REQUESTS_ROUTING_KEY, durable=True)(connection.channel()).declare()
    container_factory(CasesPublisher).start()
    notify = container_factory(NotifyService)
    with caplog.at_level(logging.WARNING, logger="services.notify.priority"):
        notify.start()
    assert "exists without x-max-priority" in caplog.text
    backlog_then_p1(0)
    wait_until(lambda: smtp_sink.count() == BACKLOG + 1, timeout=60, message="every mail, oldest first")
    refused = CliRunner().invoke(cli, ["--amqp-uri", uri, "notify", "priority-queue", "--apply"])
    assert refused.exit_code != 0 and "consumer(s): stop every notify replica first" in refused.output
    notify.stop()

    backlog_then_p1(100)  # waits while notify is down
    shown = CliRunner().invoke(cli, ["--amqp-uri", uri, "notify", "priority-queue"])
    assert shown.exit_code == 0 and "oldest first" in shown.output, shown.output
    moved = CliRunner().invoke(cli, ["--amqp-uri", uri, "notify", "priority-queue", "--apply"])
    assert moved.exit_code == 0 and f"moved {BACKLOG + 1} waiting request(s)" in moved.output, moved.output
    shown = CliRunner().invoke(cli, ["--amqp-uri", uri, "notify", "priority-queue"])
    assert "P1 requests go first" in shown.output

    before = len(arrival_order(smtp_sink))
    container_factory(NotifyService).start()
    wait_until(
        lambda: smtp_sink.count() == 2 * (BACKLOG + 1), timeout=60, message="the moved requests mailed"
    )
    order = arrival_order(smtp_sink)[before:]
    assert order[0] == f"P1-{100 + BACKLOG}", order
    assert len(set(order)) == BACKLOG + 1  # none lost, none twice


def test_a_batch_handler_publishes_with_the_level_priority_too(cx_config):
    """The cases service's intake publishes a batch's messages together
    (``ConfirmedBatchPublisher``): each carries its level's priority as well."""
    uri = cx_config["AMQP_URI"]
    exchange = Exchange(REQUESTS_EXCHANGE, type="topic", durable=True)
    with Connection(uri) as connection:
        queue = Queue("prio-probe", exchange, REQUESTS_ROUTING_KEY, durable=False)(connection.channel())
        queue.declare()
        publisher = ConfirmedBatchPublisher(uri)
        bodies = [{"level": level, "n": n} for n, level in enumerate(["P3", "P1", "P4"])]
        publisher.publish_all([(exchange, REQUESTS_ROUTING_KEY, body, {}) for body in bodies])
        publisher.close()
        got = [queue.get(no_ack=True) for _ in bodies]
    assert [(m.payload["level"], m.properties.get("priority")) for m in got] == [
        ("P3", 2),
        ("P1", 5),
        ("P4", 1),
    ]
