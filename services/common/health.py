"""Liveness and readiness over HTTP, for Kubernetes probes and compose health checks.

Every service class declares ``health = HealthServer()``. With ``HEALTH_PORT``
set (deploy/ sets 8081; 0, the default, turns it off, so that several services
in one process, as in the tests, do not fight over a port), the container
serves on ``HEALTH_ADDRESS:HEALTH_PORT``:

* ``GET /livez``: 200 while the service's event loop answers and the container
  is not shutting down. A hung process (the hub blocked) answers nothing and is
  restarted by the probe.
* ``GET /readyz``: 200 when the broker accepts a connection and the service's
  store answers a ping; 503 with the failing check otherwise. While the store is
  down the consumers hold their messages (requeued, never dead-lettered; see
  messaging.py), so "not ready" means "taking no work", not "losing work".

Both answer JSON ``{"service", "status", "checks": {name: "ok" | error}}``.
"""

from __future__ import annotations

import json
import logging

import eventlet
import eventlet.wsgi
from kombu import Connection
from nameko.constants import AMQP_URI_CONFIG_KEY
from nameko.extensions import DependencyProvider

from services.common import settings
from services.common.mongo import MongoStore

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0


class HealthServer(DependencyProvider):
    """Serves /livez and /readyz for the container when HEALTH_PORT is set."""

    def setup(self) -> None:
        self.port = settings.get("HEALTH_PORT")
        self.socket = None
        self.stopping = False

    def start(self) -> None:
        if not self.port:
            return
        self.socket = eventlet.listen((settings.get("HEALTH_ADDRESS"), self.port))
        self.container.spawn_managed_thread(self._serve, identifier="health")

    def stop(self) -> None:
        self.stopping = True
        if self.socket is not None:
            self.socket.close()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self.readiness

    def _serve(self) -> None:
        eventlet.wsgi.server(self.socket, self._app, log_output=False, socket_timeout=5)

    # -- checks ----------------------------------------------------------------

    def liveness(self) -> dict:
        checks = {"event_loop": "ok", "container": "stopping" if self.stopping else "ok"}
        return checks

    def readiness(self) -> dict:
        checks = {"broker": self._broker()}
        for dependency in self.container.dependencies:
            if isinstance(dependency, MongoStore):
                checks["store"] = self._store(dependency)
        return checks

    def _broker(self) -> str:
        try:
            with Connection(settings.get(AMQP_URI_CONFIG_KEY), connect_timeout=CHECK_TIMEOUT) as conn:
                conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)
            return "ok"
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    @staticmethod
    def _store(dependency: MongoStore) -> str:
        try:
            with eventlet.Timeout(CHECK_TIMEOUT):
                dependency.client.admin.command("ping", maxTimeMS=int(CHECK_TIMEOUT * 1000))
            return "ok"
        except (Exception, eventlet.Timeout) as exc:
            return f"{type(exc).__name__}: {exc}"[:300]

    # -- HTTP --------------------------------------------------------------------

    def _app(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or path not in ("/livez", "/readyz"):
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "GET /livez or /readyz"}']
        checks = self.liveness() if path == "/livez" else self.readiness()
        healthy = all(v == "ok" for v in checks.values())
        body = json.dumps(
            {
                "service": self.container.service_name,
                "status": "ok" if healthy else "unavailable",
                "checks": checks,
            }
        ).encode("utf-8")
        status = "200 OK" if healthy else "503 Service Unavailable"
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
