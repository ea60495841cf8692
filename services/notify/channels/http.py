"""One HTTP POST for webhook channels, with transport errors classified.

Connection errors and timeouts are transient (``retry``); the channel's own
``interpret`` classifies what the vendor answered.

Every POST of the process goes through one urllib3 pool manager (kept-alive
connections per host, ``POOL_SIZE`` of them), or, for a destination the environment
sends through a proxy, that proxy's manager. Not through ``requests``: its session
prepares, merges settings, runs hooks and fills a cookie jar on every call, 0.44 ms of
CPU per POST against 0.24 ms straight on urllib3 (docs/benchmarks.md), and a webhook
needs none of it. urllib3 drops a pooled connection the peer closed before reusing it,
and a request that fails on one anyway is a connection error: retried like any other.
A redirect is not followed (a webhook that moved answers 3xx: failed, the status named),
and nothing is retried inside a send (the delivery's own retries decide).

The environment is read once, not per request: the proxies for a destination
(``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``…) once per scheme and host, the CA
bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``; else certifi's) at start; a webhook
never takes credentials from ``~/.netrc``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import certifi
import requests
import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, TimeoutError

from services.notify.channels.base import Channel, Destination, Note, Outcome

DEFAULT_TIMEOUT = 10.0
POOL_SIZE = 32  # connections kept per host: NOTIFY_SEND_CONCURRENCY sends at once, and more
CA_BUNDLE: str = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
POOL_OPTIONS: dict[str, Any] = {
    "num_pools": 16,
    "maxsize": POOL_SIZE,
    "cert_reqs": "CERT_REQUIRED",
    "ca_certs": CA_BUNDLE,
}
USER_AGENT = "cx-notify/1 (customer-experience alerting)"
DIRECT = urllib3.PoolManager(**POOL_OPTIONS)


@functools.lru_cache(maxsize=32)
def _proxy_manager(proxy_url: str) -> urllib3.ProxyManager:
    return urllib3.ProxyManager(proxy_url, **POOL_OPTIONS)


@functools.lru_cache(maxsize=256)
def _proxies(origin: str) -> dict:
    return requests.utils.get_environ_proxies(origin)


def proxies_for(url: str) -> dict:
    """The environment's proxies for ``url``'s scheme and host (``NO_PROXY`` applied)."""
    parts = urlsplit(url)
    return _proxies(f"{parts.scheme}://{parts.netloc}")


def manager_for(url: str) -> urllib3.PoolManager:
    """The pool a POST to ``url`` goes through: its proxy's, else the direct one."""
    proxy = proxies_for(url).get(urlsplit(url).scheme)
    return _proxy_manager(proxy) if proxy else DIRECT


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict
    body: bytes

    def json(self):
        import json

        try:
            return json.loads(self.body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return None


def retry_after(headers: dict) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form)."""
    value = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def status_outcome(response: Response) -> Outcome | None:
    """The generic HTTP reading: 429 and 5xx retry, other non-2xx fail; None for 2xx."""
    if 200 <= response.status < 300:
        return None
    excerpt = response.body[:300].decode("utf-8", "replace")
    if response.status == 429:
        return Outcome.retry(f"HTTP 429 {excerpt}", retry_after(response.headers), 429)
    if response.status >= 500 or response.status == 408:
        return Outcome.retry(
            f"HTTP {response.status} {excerpt}", retry_after(response.headers), response.status
        )
    return Outcome.failed(f"HTTP {response.status} {excerpt}", response.status)


def post(
    url: str,
    body: bytes,
    headers: dict,
    interpret: Callable[[Response], Outcome],
    timeout: float = DEFAULT_TIMEOUT,
) -> Outcome:
    try:
        raw = manager_for(url).request(
            "POST",
            url,
            body=body,
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, **headers},
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            redirect=False,
        )
    except NewConnectionError as exc:  # urllib3 files it under timeouts; it is a refusal
        return Outcome.retry(f"connection error: {exc}")
    except TimeoutError as exc:
        return Outcome.retry(f"timeout: {exc}")
    except ValueError as exc:  # an invalid URL and the like (LocationValueError) never heal
        return Outcome.failed(f"{type(exc).__name__}: {exc}")
    except (HTTPError, OSError) as exc:  # refused, reset, a proxy's failure (ProxyError)
        return Outcome.retry(f"connection error: {exc}")
    return interpret(Response(raw.status, dict(raw.headers), raw.data))


def errcode_outcome(response: Response, vendor: str, transient: dict[int, float | None]) -> Outcome:
    """Robots that answer HTTP 200 with ``{"errcode": n, "errmsg": …}`` (DingTalk, WeCom).

    A non-2xx status decides first; then errcode 0 is success, a listed
    transient code is retried after its delay, anything else is permanent.
    """
    generic = status_outcome(response)
    if generic is not None:
        return generic
    answer = response.json() or {}
    code = answer.get("errcode")
    if code == 0:
        return Outcome.ok(http_status=response.status)
    error = f"{vendor} errcode {code}: {answer.get('errmsg')}"
    if code in transient:
        return Outcome.retry(error, transient[code], response.status)
    return Outcome.failed(error, response.status)


class JsonWebhookChannel(Channel):
    """A robot that takes one JSON POST at the handle's ``webhook`` URL.

    Subclasses give the vendor's payload (``build``), how to read its answer
    (``interpret``) and, when the URL carries a signature, ``url``.
    """

    @staticmethod
    def build(note: Note, destination: Destination) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def interpret(response: Response) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def url(self, destination: Destination, now: float) -> str:
        return destination.handle["webhook"]

    def preview(self, note: Note, destination: Destination) -> dict:
        return self.build(note, destination)

    def deliver(self, note: Note, destination: Destination, now: float) -> Outcome:
        body = json.dumps(self.build(note, destination), ensure_ascii=False).encode("utf-8")
        return post(self.url(destination, now), body, {}, self.interpret, self.settings.get("timeout", 10))
