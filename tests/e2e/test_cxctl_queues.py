"""`cxctl wait-idle` and `cxctl stats` reading the real broker's management API.

A queue in the test's own vhost is filled, then drained by a consumer at a steady
pace in a green thread while wait-idle watches; the management API (127.0.0.1:15672)
is the real one, with its 5 s refresh.
"""

import json
import re
import time

import eventlet
import requests
from kombu import Connection, Queue

from cxctl.broker import DEFAULT_API
from tests.conftest import free_port, wait_until
from tests.e2e.test_cxctl import run
from tests.e2e.test_pipeline import stack  # noqa: F401 - the stack fixture

QUEUE = "cx.drain.test"
PACE = 15  # messages/s the consumer takes


def fill(amqp_uri, messages, dead_letters=0):
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        for name in (QUEUE, f"{QUEUE}.dlq"):
            Queue(name, durable=True, channel=channel).declare()
        producer = conn.Producer(channel=channel)
        for n in range(messages):
            producer.publish({"n": n}, routing_key=QUEUE, delivery_mode=2)
        for n in range(dead_letters):
            producer.publish({"n": n}, routing_key=f"{QUEUE}.dlq", delivery_mode=2)


def reported_depth(amqp_uri, name):
    """What the management API reports (it lags the broker by up to a refresh or two)."""
    vhost = amqp_uri.rsplit("/", 1)[1]
    rows = requests.get(
        f"http://127.0.0.1:15672/api/queues/{vhost}", auth=("guest", "guest"), timeout=5
    ).json()
    return next((row.get("messages") for row in rows if row["name"] == name), None)


def drain_steadily(amqp_uri, messages):
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        started, taken = time.monotonic(), 0
        while taken < messages:
            eventlet.sleep(max(0.0, started + taken / PACE - time.monotonic()))
            message = channel.basic_get(QUEUE)
            if message is not None:
                channel.basic_ack(message.delivery_tag)
                taken += 1


def test_wait_idle_shows_the_queue_draining_with_rate_and_eta(amqp_uri):
    messages = 300
    fill(amqp_uri, messages, dead_letters=4)
    wait_until(
        lambda: (reported_depth(amqp_uri, QUEUE), reported_depth(amqp_uri, f"{QUEUE}.dlq")) == (messages, 4),
        timeout=30,
        message="the API to report the fill",
    )
    consumer = eventlet.spawn(drain_steadily, amqp_uri, messages)

    code, out = run(amqp_uri, "wait-idle", "--quiet", "6", "--timeout", "120")
    consumer.wait()

    assert code == 0, out
    lines = out.splitlines()
    assert lines[-1] == "idle"
    progress = [line for line in lines[:-1] if line.startswith("wait-idle ")]
    assert len(progress) == len(lines) - 1 >= 4  # one plain line every ~5 s, nothing else
    # "<queue> <depth> <change>/s ETA <eta>" for the queue while it is busy
    seen = [
        re.search(rf"· {re.escape(QUEUE)} (\d+) ([+-]\d+\.\d)/s ETA (.+?)(?: · |$)", line)
        for line in progress
    ]
    busy = [(int(m[1]), float(m[2]), m[3]) for m in seen if m]
    depths = [depth for depth, _, _ in busy]
    assert depths[0] > 0.9 * messages and depths == sorted(depths, reverse=True) and depths[-1] < messages / 2
    draining = [
        (depth, rate, eta) for depth, rate, eta in busy if rate < 0 and re.fullmatch(r"\d+s|\dm\d\ds", eta)
    ]
    assert draining, busy
    assert all(-2 * PACE <= rate <= -PACE / 2 for _, rate, _ in draining), draining
    assert all(f"dead letters / 死信 (not waited for / 不等待): {QUEUE}.dlq 4" in line for line in progress)
    assert "total / 合计 0 " in progress[-1] and "ETA idle / 空闲" in progress[-1]


def test_wait_idle_redraws_a_block_when_asked_and_is_silent_without_progress(amqp_uri):
    code, out = run(amqp_uri, "wait-idle", "--quiet", "1", "--progress")
    assert code == 0 and out.endswith("idle\n")
    assert "\x1b[2K" in out and re.search(r"\x1b\[\d+F", out) and "waiting for idle / 等待空闲" in out
    code, out = run(amqp_uri, "wait-idle", "--quiet", "1", "--no-progress")
    assert (code, out) == (0, "idle\n")


def test_wait_idle_names_an_unreachable_api_without_its_credentials(amqp_uri):
    api = f"http://guest:s3cret@127.0.0.1:{free_port()}"
    code, out = run(amqp_uri, "wait-idle", "--api", api, "--timeout", "5")
    assert code == 1 and "queues unavailable / 队列不可用" in out and f"{api[:7]}127.0.0.1" in out
    assert "s3cret" not in out


def test_stats_lists_busy_queues_and_survives_an_unreachable_api(stack, cx_config):  # noqa: F811
    uri = cx_config["AMQP_URI"]
    fill(uri, 25, dead_letters=2)
    wait_until(
        lambda: (reported_depth(uri, QUEUE), reported_depth(uri, f"{QUEUE}.dlq")) == (25, 2),
        timeout=30,
        message="the API to report the fill",
    )

    code, out = run(uri, "stats", "--json", "--api", DEFAULT_API)
    assert code == 0, out
    data = json.loads(out)
    queues = {q["name"]: q for q in data["queues"]}
    assert set(queues) == {QUEUE, f"{QUEUE}.dlq"}  # the services' own queues are empty
    listed = queues[QUEUE]
    assert (listed["ready"], listed["unacked"], listed["depth"], listed["dead_letter"]) == (25, 0, 25, False)
    assert set(listed) >= {"change_rate", "in_rate", "out_rate", "state", "eta_seconds"}
    assert queues[f"{QUEUE}.dlq"]["depth"] == 2 and queues[f"{QUEUE}.dlq"]["dead_letter"]
    assert data["alerts"]["alerts"] == 0  # the rest of stats is unchanged

    code, out = run(uri, "stats")
    assert code == 0 and "throttled matches / 限流抑制" in out
    [row] = [line.split() for line in out.splitlines() if line.strip().startswith(f"{QUEUE} ")]
    assert row[:3] == [QUEUE, "25", "0"]

    code, out = run(uri, "stats", "--api", f"http://guest:s3cret@127.0.0.1:{free_port()}")
    assert code == 0 and "throttled matches / 限流抑制" in out and "s3cret" not in out
    assert out.splitlines()[-1].startswith(
        "queues / 队列: unavailable / 不可用 — RabbitMQ management API http://127.0.0.1:"
    )
    code, out = run(uri, "stats", "--json", "--api", f"http://127.0.0.1:{free_port()}")
    data = json.loads(out)
    assert data["queues"] is None and "no answer (ConnectionError)" in data["queues_error"]
