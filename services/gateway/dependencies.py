"""Nameko dependency providers of the gateway."""

from __future__ import annotations

import json

from nameko.amqp.publish import Publisher
from nameko.constants import AMQP_URI_CONFIG_KEY, PERSISTENT
from nameko.extensions import DependencyProvider

from contracts.feedback import FOLLOWUP_ROUTING_KEY_PATTERN, ROUTING_KEY_PATTERN
from services.common import settings
from services.common.messaging import feedback_exchange
from services.common.privacy import register_secret


class FeedbackPublisher(DependencyProvider):
    """Publishes feedback exactly as integrations do on AMQP.

    Topic exchange ``cx.feedback``, routing key ``feedback.<channel>``,
    persistent, JSON, with publisher confirms: the call returns only once the
    broker has taken the message, so a 202 means it is queued.
    """

    routing_key_pattern = ROUTING_KEY_PATTERN

    def setup(self) -> None:
        self.publisher = Publisher(
            settings.get(AMQP_URI_CONFIG_KEY),
            use_confirms=True,
            delivery_mode=PERSISTENT,
            declare=[feedback_exchange],
        )

    def get_dependency(self, worker_ctx):
        def publish(item: dict, channel: str) -> None:
            self.publisher.publish(
                json.dumps(item, ensure_ascii=False).encode("utf-8"),
                exchange=feedback_exchange,
                routing_key=self.routing_key_pattern.format(channel=channel),
                content_type="application/json",
                content_encoding="utf-8",
            )

        return publish


class FollowupAnswerPublisher(FeedbackPublisher):
    """Publishes a follow-up survey answer: a feedback event like any other, on
    ``feedback.<channel>.followup``, the only key the cases service binds."""

    routing_key_pattern = FOLLOWUP_ROUTING_KEY_PATTERN


class VendorCallbackSecrets(DependencyProvider):
    """The vendors' callback credentials (``SMS_CALLBACK_KEY``, ``WECHAT_OA_SERVER_TOKEN``),
    read once per container and registered with the log filter: the SMS key travels in
    the callback URL's path."""

    def setup(self) -> None:
        sms_key = settings.get("SMS_CALLBACK_KEY")
        if sms_key and len(sms_key) < 16:
            raise ValueError("SMS_CALLBACK_KEY: at least 16 characters (the callbacks' only credential)")
        self.value = {"sms_key": sms_key, "wechat_token": settings.get("WECHAT_OA_SERVER_TOKEN")}
        for secret in self.value.values():
            if secret:
                register_secret(secret)

    def get_dependency(self, worker_ctx) -> dict:
        return self.value
