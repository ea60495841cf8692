"""Nameko dependency providers of the alerts service (besides its MongoStore)."""

from __future__ import annotations

import json
import logging

import eventlet
from amqp.exceptions import ChannelError
from kombu import Connection
from marshmallow import ValidationError
from nameko.exceptions import MethodNotFound, RemoteError, UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import ClusterRpc

from contracts.messages import RESPONDED_STATUSES, schema_of
from services.common import settings
from services.common.mongo import MongoStore

log = logging.getLogger(__name__)


class Peers(ClusterRpc):
    """Asks other services for their dry runs (``alerts.simulate``): injects
    ``ask(service, method, *args) -> (result, None) | (None, reason)``.

    Never raises for a peer's failure: a service that is not running, does not
    know the method, fails, or does not answer within
    ``ALERT_SIMULATE_TIMEOUT_SECONDS`` yields a reason to show instead.
    """

    def get_dependency(self, worker_ctx):
        client = super().get_dependency(worker_ctx)
        timeout = float(settings.get("ALERT_SIMULATE_TIMEOUT_SECONDS"))

        def ask(service: str, method: str, *args):
            try:
                with eventlet.Timeout(timeout):
                    return getattr(getattr(client, service), method)(*args), None
            except eventlet.Timeout:
                return None, f"{service} did not answer within {timeout:g}s"
            except UnknownService:
                return None, f"{service} did not answer (not running)"
            except MethodNotFound:
                return None, f"{service} does not support {method}"
            except RemoteError as exc:
                if exc.exc_type == "MethodNotFound":
                    return None, f"{service} does not support {method}"
                return None, f"{service}.{method} failed: {exc.exc_type}: {exc.value}"

        return ask


# The queue through which alerts received every ``case_status_changed`` before the
# cases service announced ``customer_responded`` (issue 16: a delivery per transition
# that alerts ignored but for four statuses).
RETIRED_STATUS_QUEUE = "evt-cases-case_status_changed--alerts.handle_case_status_changed"


class RetiredStatusQueue(DependencyProvider):
    """On start, take what an earlier version left in its ``case_status_changed`` queue
    (an upgrade while cases kept publishing), answer the responses in it, then delete
    the queue so it stops collecting messages nobody reads. Nothing when it is gone."""

    def __init__(self, respond):
        self.respond = respond  # (store, customer_id, at) -> None

    def start(self) -> None:
        store = next(d.store for d in self.container.dependencies if isinstance(d, MongoStore))
        handled = drain_retired_queue(settings.get("AMQP_URI"), RETIRED_STATUS_QUEUE, store, self.respond)
        if handled is not None:
            log.info("retired %s after answering %d status change(s)", RETIRED_STATUS_QUEUE, handled)


def drain_retired_queue(amqp_uri: str, name: str, store, respond) -> int | None:
    """Answer every responded status in queue ``name`` and delete it; None when absent."""
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        try:
            channel.queue_declare(name, passive=True)
        except ChannelError:
            return None  # never existed, or already retired
        channel = conn.channel()  # a failed passive declare closes its channel
        handled = 0
        while (message := channel.basic_get(name)) is not None:
            try:
                change = schema_of("case_status_changed").load(json.loads(message.body))
            except (ValueError, ValidationError) as exc:
                log.warning("dropping an unreadable status change from %s: %s", name, exc)
            else:
                if change["to_status"] in RESPONDED_STATUSES:
                    respond(store, change["customer_id"], change["changed_at"])
                    handled += 1
            channel.basic_ack(message.delivery_tag)
        channel.queue_delete(name)
        return handled
