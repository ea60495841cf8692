"""A handler that keeps failing is retried after growing delays, then dead-lettered.

Real broker: the waits are TTL queues that dead-letter back to the work queue,
so no worker sleeps and nothing spins; the final dead letter carries the
attempt count and the last error.
"""

from __future__ import annotations

import json
import time

import pytest
from kombu import Connection
from nameko import config

from cxctl.publish import FeedbackPublisher
from services.common.feedback import feedback_consumer
from services.common.messaging import (
    HEADER_ATTEMPTS,
    HEADER_REASON,
    dead_letter_queue,
    retry_delay,
)
from tests.conftest import wait_until

CALLS: list[float] = []


class FlakyService:
    name = "flaky"

    @feedback_consumer()
    def handle_feedback(self, event: dict) -> None:
        CALLS.append(time.monotonic())
        raise RuntimeError(f"cannot handle {event['event_id']}")


def event() -> dict:
    return {
        "schema_version": 1,
        "event_id": "poison-1",
        "source": "backoff-test",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "customer": {"id": "C1"},
        "channel": "app",
    }


def test_delays_between_attempts_grow_with_the_attempt_number():
    with config.patch({"RETRY_BACKOFF_BASE": 2.0, "RETRY_BACKOFF_CAP": 300.0}):
        assert [retry_delay(n) for n in (1, 2, 3, 4, 5, 6)] == [2, 8, 32, 128, 300, 300]


@pytest.fixture
def flaky(cx_config, runner_factory):
    CALLS.clear()
    with config.patch({"MAX_DELIVERY_ATTEMPTS": 4, "RETRY_BACKOFF_BASE": 0.3}):
        runner_factory(FlakyService).start()
        yield


def test_a_poison_message_is_retried_with_backoff_then_dead_lettered(flaky, cx_config):
    with FeedbackPublisher(cx_config["AMQP_URI"]) as publisher:
        publisher.publish(json.dumps(event()))
    wait_until(lambda: len(CALLS) >= 4, timeout=30, message="four attempts")

    gaps = [b - a for a, b in zip(CALLS, CALLS[1:], strict=False)]
    # delays 0.3, 1.2, 4.8 s: each wait at least its delay, and growing
    assert gaps[0] >= 0.3 and gaps[1] >= 1.2 and gaps[2] >= 4.8, gaps
    assert gaps[0] < gaps[1] < gaps[2]

    with Connection(cx_config["AMQP_URI"]) as conn:
        dlq = dead_letter_queue("cx.feedback.flaky")(conn.default_channel)

        def dead_letter():
            return dlq.get(no_ack=True)

        message = wait_until(dead_letter, timeout=10, message="the dead letter")
    assert message.headers[HEADER_ATTEMPTS] == 4
    assert "failed 4 times" in message.headers[HEADER_REASON]
    assert "RuntimeError: cannot handle poison-1" in message.headers[HEADER_REASON]
    time.sleep(1)
    assert len(CALLS) == 4  # no attempt after the dead letter
