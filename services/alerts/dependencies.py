"""Nameko dependency providers of the alerts service (besides its MongoStore)."""

from __future__ import annotations

import eventlet
from nameko.exceptions import MethodNotFound, RemoteError, UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import ClusterRpc

from services.common import settings, text


class TextAnalyzer(DependencyProvider):
    """Warms the jieba tokenizer and lexicons at start-up; injects ``text.analyze``.

    Without it the first event after a start pays about a second of loading.
    """

    def setup(self) -> None:
        text.warm_up()

    def get_dependency(self, worker_ctx):
        return text.analyze


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
