"""Publishing feedback the way integrations should: persistent, confirmed, routed by channel."""

from __future__ import annotations

import json

from kombu import Connection, Exchange, Producer

from contracts.feedback import FEEDBACK_EXCHANGE, ROUTING_KEY_PATTERN


def routing_key_for(body: bytes) -> str:
    """feedback.<channel> when the body names a usable channel, else feedback.unknown."""
    try:
        channel = json.loads(body).get("channel")
    except (ValueError, AttributeError, RecursionError):  # RecursionError: JSON nested too deep
        channel = None
    if not isinstance(channel, str) or not channel.replace("_", "").replace("-", "").isalnum():
        channel = "unknown"
    return ROUTING_KEY_PATTERN.format(channel=channel[:32])


class FeedbackPublisher:
    """Publishes raw bodies to ``cx.feedback`` with publisher confirms.

    ``publish`` returns only after the broker confirmed the message, so a
    message the broker could not take raises instead of vanishing.
    """

    def __init__(self, amqp_uri: str):
        self.connection = Connection(amqp_uri, transport_options={"confirm_publish": True})
        self.exchange = Exchange(FEEDBACK_EXCHANGE, type="topic", durable=True)

    def __enter__(self) -> FeedbackPublisher:
        self.connection.connect()
        self.channel = self.connection.channel()
        self.exchange(self.channel).declare()
        self.producer = Producer(self.channel, exchange=self.exchange)
        return self

    def __exit__(self, *exc) -> None:
        self.connection.release()

    def publish(self, body: bytes | str, routing_key: str | None = None) -> None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.producer.publish(
            body,
            routing_key=routing_key or routing_key_for(body),
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            retry=True,
            # long enough to ride out a cluster node's failover (quorum leader elections)
            retry_policy={"max_retries": 30, "interval_start": 0.5, "interval_step": 0.5, "interval_max": 2},
        )
