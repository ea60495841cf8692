"""Reading queue state from the RabbitMQ management API."""

from __future__ import annotations

import time
from urllib.parse import quote, urlparse

import requests

DEFAULT_API = "http://guest:guest@127.0.0.1:15672"


def busy_messages(amqp_uri: str, api: str = DEFAULT_API) -> int:
    """Messages (ready + unacked) in the URI's vhost, dead-letter queues excluded."""
    vhost = quote(urlparse(amqp_uri).path.lstrip("/") or "/", safe="")
    api_url = urlparse(api)
    auth = (api_url.username or "guest", api_url.password or "guest")
    base = f"{api_url.scheme}://{api_url.hostname}:{api_url.port or 15672}"
    queues = requests.get(f"{base}/api/queues/{vhost}", auth=auth, timeout=5).json()
    return sum(q.get("messages", 0) for q in queues if not q["name"].endswith(".dlq"))


def wait_queues_idle(
    amqp_uri: str, *, quiet: float = 8.0, timeout: float = 300.0, api: str = DEFAULT_API, poll: float = 1.0
) -> bool:
    """True once the vhost's queues stay empty for ``quiet`` seconds; False on timeout.

    The management API refreshes its figures every 5 s, so a shorter quiet
    period could call the broker idle while work is still in flight.
    """
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if busy_messages(amqp_uri, api):
            idle_since = None
        elif idle_since is None:
            idle_since = now
        elif now - idle_since >= quiet:
            return True
        time.sleep(poll)
    return False
