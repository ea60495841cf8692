"""Reading queue state from the RabbitMQ management API."""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote, urlparse

import requests

from cxctl.drain import Drain, DrainTracker, QueueSample

DEFAULT_API = "http://guest:guest@127.0.0.1:15672"


class ManagementApiError(Exception):
    """The management API did not answer with a queue listing (the message names it, without credentials)."""


def queue_samples(amqp_uri: str, api: str = DEFAULT_API) -> list[QueueSample]:
    """Every queue of the URI's vhost, as one listing shows it."""
    vhost = urlparse(amqp_uri).path.lstrip("/") or "/"
    api_url = urlparse(api)
    auth = (api_url.username or "guest", api_url.password or "guest")
    base = f"{api_url.scheme}://{api_url.hostname}:{api_url.port or 15672}"
    try:
        answer = requests.get(f"{base}/api/queues/{quote(vhost, safe='')}", auth=auth, timeout=5)
        answer.raise_for_status()
        rows = answer.json()
    except requests.RequestException as exc:
        status = getattr(exc.response, "status_code", None)
        reason = f"answered HTTP {status}" if status else f"no answer ({type(exc).__name__})"
        raise ManagementApiError(f"RabbitMQ management API {base} {reason}, vhost {vhost!r}") from None
    except ValueError:
        raise ManagementApiError(f"RabbitMQ management API {base} answered with no JSON") from None
    return [QueueSample.from_api(row) for row in rows]


def queue_drains(amqp_uri: str, api: str = DEFAULT_API) -> list[Drain]:
    """Every queue of the vhost from one listing, deepest first; the rates are the broker's own."""
    tracker = DrainTracker()
    tracker.add(time.monotonic(), queue_samples(amqp_uri, api))
    return tracker.queues()


def busy_messages(amqp_uri: str, api: str = DEFAULT_API) -> int:
    """Messages (ready + unacked) in the URI's vhost, dead-letter queues excluded."""
    return sum(s.depth for s in queue_samples(amqp_uri, api) if not s.dead_letter)


def wait_queues_idle(
    amqp_uri: str,
    *,
    quiet: float = 8.0,
    timeout: float = 300.0,
    api: str = DEFAULT_API,
    poll: float = 1.0,
    watch: Callable[[float, list[QueueSample]], None] | None = None,
) -> bool:
    """True once the vhost's queues stay empty for ``quiet`` seconds; False on timeout.

    Dead-letter queues are not waited for. The management API refreshes its figures
    every 5 s, so a shorter quiet period could call the broker idle while work is
    still in flight. ``watch`` sees every listing with its monotonic time.
    """
    deadline = time.monotonic() + timeout
    idle_since = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        samples = queue_samples(amqp_uri, api)
        if watch is not None:
            watch(now, samples)
        if any(s.depth for s in samples if not s.dead_letter):
            idle_since = None
        elif idle_since is None:
            idle_since = now
        elif now - idle_since >= quiet:
            return True
        time.sleep(poll)
    return False
