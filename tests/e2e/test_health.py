"""Liveness and readiness endpoints, on a real broker and a store the test can kill."""

from __future__ import annotations

import requests

from services.alerts.service import AlertsService
from tests.conftest import free_port, wait_until
from tests.e2e.test_store_outage import private_mongo  # noqa: F401  (fixture)


def get(port: int, path: str) -> requests.Response:
    return requests.get(f"http://127.0.0.1:{port}{path}", timeout=10)


def test_ready_follows_the_store_and_live_stays_up(cx_config, runner_factory, private_mongo):  # noqa: F811
    port = free_port()
    cx_config["MONGO_URI"] = private_mongo.uri
    cx_config["HEALTH_PORT"] = port
    cx_config["HEALTH_ADDRESS"] = "127.0.0.1"
    runner_factory(AlertsService).start()

    live = get(port, "/livez")
    assert live.status_code == 200 and live.json()["service"] == "alerts"
    ready = get(port, "/readyz").json()
    assert ready == {"service": "alerts", "status": "ok", "checks": {"broker": "ok", "store": "ok"}}

    private_mongo.kill()
    # (a Response is falsy when not ok: wait on the body instead)
    body = wait_until(lambda: (r := get(port, "/readyz")).status_code == 503 and r.json(), timeout=30)
    assert body["status"] == "unavailable" and body["checks"]["broker"] == "ok"
    assert body["checks"]["store"] != "ok"
    assert get(port, "/livez").status_code == 200  # alive: it holds its messages and waits

    private_mongo.start()
    wait_until(lambda: get(port, "/readyz").status_code == 200, timeout=60, message="ready again")


def test_unknown_paths_and_methods_are_404(cx_config, runner_factory):
    port = free_port()
    cx_config["HEALTH_PORT"] = port
    cx_config["HEALTH_ADDRESS"] = "127.0.0.1"
    runner_factory(AlertsService).start()
    assert get(port, "/").status_code == 404
    assert requests.post(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 404
