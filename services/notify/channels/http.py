"""One HTTP POST for webhook channels, with transport errors classified.

Connection errors and timeouts are transient (``retry``); the channel's own
``interpret`` classifies what the vendor answered.

Every POST of the process goes through one pooled ``requests.Session`` (kept-alive
connections per host, ``POOL_SIZE`` of them): ``requests.post`` builds a session and a
connection for each call, which cost notify most of its CPU per webhook in a burst.
urllib3 drops a pooled connection the peer closed before reusing it, and a request
that fails on one anyway is a connection error: retried like any other.

The environment is read once, not per request: the proxies for a destination
(``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``…) once per scheme and host, the CA
bundle (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``) at start. ``requests`` looked both
up, and ``~/.netrc``, on every POST (a tenth of notify's CPU under a burst); a webhook
never takes credentials from ``.netrc``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from services.notify.channels.base import Channel, Destination, Note, Outcome

DEFAULT_TIMEOUT = 10.0
POOL_SIZE = 32  # connections kept per host: NOTIFY_SEND_CONCURRENCY sends at once, and more


def _session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # the environment is read once, below
    return session


SESSION = _session()
CA_BUNDLE: str | bool = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


@functools.lru_cache(maxsize=256)
def _proxies(origin: str) -> dict:
    return requests.utils.get_environ_proxies(origin)


def proxies_for(url: str) -> dict:
    """The environment's proxies for ``url``'s scheme and host (``NO_PROXY`` applied)."""
    parts = urlsplit(url)
    return _proxies(f"{parts.scheme}://{parts.netloc}")


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
        raw = SESSION.post(
            url,
            proxies=proxies_for(url),
            verify=CA_BUNDLE,
            data=body,
            headers={"Content-Type": "application/json; charset=utf-8", **headers},
            timeout=timeout,
        )
    except requests.Timeout as exc:
        return Outcome.retry(f"timeout: {exc}")
    except requests.ConnectionError as exc:
        return Outcome.retry(f"connection error: {exc}")
    except requests.RequestException as exc:  # an invalid URL and the like never heal
        return Outcome.failed(f"{type(exc).__name__}: {exc}")
    return interpret(Response(raw.status_code, dict(raw.headers), raw.content))


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
