"""services/notify/channels/http.py: webhook POSTs reuse kept-alive connections, and a
peer that closes them between sends costs nothing but a new connection."""

from __future__ import annotations

import socket
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


class Recording(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - the http.server name
        self.server.seen.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
        status = self.server.answers.pop(0)
        self.send_response(status)
        if 300 <= status < 400:
            self.send_header("Location", "/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def recording():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
    server.daemon_threads = True
    server.seen, server.answers = [], []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_post_sends_the_body_and_headers_once_and_follows_no_redirect(recording):
    url = f"http://127.0.0.1:{recording.server_address[1]}/hook"
    recording.answers += [200, 307]
    assert http.post(url, b'{"a": 1}', {"X-Signature": "s1"}, ok, timeout=5).status == "delivered"
    moved = http.post(url, b'{"a": 2}', {}, ok, timeout=5)
    assert moved.status == "failed" and "HTTP 307" in moved.error
    assert [body for _, body in recording.seen] == [b'{"a": 1}', b'{"a": 2}']  # the 307 was not followed
    headers = recording.seen[0][0]
    assert headers["X-Signature"] == "s1" and headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"].startswith("cx-notify/")


def test_transport_failures_are_classified():
    # nothing listens: a connection error, retried; an unusable URL never heals
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    refused = http.post(f"http://127.0.0.1:{port}/hook", b"{}", {}, ok, timeout=2)
    assert refused.status == "retry" and refused.error.startswith("connection error")
    assert http.post("gopher://127.0.0.1/x", b"{}", {}, ok, timeout=2).status == "failed"
    assert http.post("http://", b"{}", {}, ok, timeout=2).status == "failed"


def test_a_receiver_that_never_answers_is_a_timeout(recording):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        outcome = http.post(f"http://127.0.0.1:{silent.getsockname()[1]}/x", b"{}", {}, ok, timeout=0.5)
    finally:
        silent.close()
    assert outcome.status == "retry" and outcome.error.startswith("timeout")
