"""services/notify/channels/http.py: webhook POSTs reuse kept-alive connections, and a
peer that closes them between sends costs nothing but a new connection."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.notify.channels import http
from services.notify.channels.base import Outcome


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, keep_alive: str):
        self.connections = 0
        self.posts = 0
        self.keep_alive = keep_alive
        super().__init__(("127.0.0.1", 0), Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.server.connections += 1

    def do_POST(self):  # noqa: N802 - the http.server name
        self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        if self.server.keep_alive == "closes":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"ok")
        if self.server.keep_alive == "drops":  # says nothing, closes anyway (an idle timeout)
            self.close_connection = True

    def log_message(self, *args):
        pass


def serving(mode: str):
    server = Receiver(mode)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(params=["keeps", "closes", "drops"])
def receiver(request):
    yield from serving(request.param)


@pytest.fixture
def keep_alive_receiver():
    yield from serving("keeps")


def ok(response: http.Response) -> Outcome:
    return http.status_outcome(response) or Outcome.ok(http_status=response.status)


def test_posts_to_one_host_share_a_connection_unless_the_peer_closes_it(receiver):
    url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    outcomes = []
    for n in range(5):
        outcomes.append(http.post(url, b'{"n": %d}' % n, {}, ok, timeout=5))
        time.sleep(0.05)  # a dropped connection is closed by now
    assert all(o.status == "delivered" for o in outcomes), outcomes
    assert receiver.posts == 5
    assert receiver.connections == (1 if receiver.keep_alive == "keeps" else 5)


def test_the_environments_proxies_apply_per_destination(keep_alive_receiver, monkeypatch):
    """HTTP_PROXY / NO_PROXY are read once per scheme and host, and still honoured."""
    receiver = keep_alive_receiver
    proxy = f"http://127.0.0.1:{receiver.server_address[1]}"
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", "direct.invalid")
    http._proxies.cache_clear()
    try:
        # through the proxy (our receiver), which answers for any host
        assert http.post("http://hooks.invalid/x", b"{}", {}, ok, timeout=5).status == "delivered"
        assert receiver.posts == 1
        assert http.proxies_for("http://hooks.invalid/y")["http"] == proxy
        # NO_PROXY: straight to a host that does not resolve: a connection error, retried
        outcome = http.post("http://direct.invalid/x", b"{}", {}, ok, timeout=5)
        assert outcome.status == "retry" and receiver.posts == 1
    finally:
        http._proxies.cache_clear()
