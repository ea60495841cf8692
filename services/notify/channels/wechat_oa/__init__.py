"""WeChat official-account template messages (公众号模板消息) to customers who follow
the account, addressed by their ``openid``.

* The interface credential: ``GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…``
  answers ``{"access_token", "expires_in"}`` (7,200 s). It is kept in a shared token
  cache (the notify store, so every replica uses one token: fetching a new one makes
  the previous one stop working some minutes later) until shortly before it expires.
* The message: ``POST /cgi-bin/message/template/send?access_token=…`` with
  ``{"touser", "template_id", "url", "data": {key: {"value": …}}}``; the answer is
  ``{"errcode": 0, "errmsg": "ok", "msgid": …}``.
* A token the platform no longer accepts (40001 invalid credential, 40014 invalid
  token, 42001 token expired) is fetched again once and the message resent once;
  ``-1`` (system busy) and 45009 (call quota reached) are transient; anything else
  (43004: the customer does not follow the account; 40003: invalid openid; 40037:
  invalid template id) is permanent.

An operator registers one template per purpose in the account's back office, with the
fields ``first``, ``keyword1`` (the case), ``keyword2`` (the time) and ``remark`` (the
message), and configures its id in ``CUSTOMER_WECHAT_TEMPLATES``.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import requests

from services.notify.channels.base import CustomerChannel, CustomerNote, Outcome
from services.notify.channels.http import Response, status_outcome

STALE_TOKEN_CODES = (40001, 40014, 42001)
TRANSIENT_CODES = {-1: None, 45009: 60.0}
TOKEN_MARGIN = 300.0  # a token is renewed this long before it expires
MAX_FIELD = 200  # characters of one data field shown


@dataclass(frozen=True)
class WechatConfig:
    api: str = "https://api.weixin.qq.com"
    appid: str = ""
    secret: str = ""
    templates: dict = field(default_factory=dict)  # purpose -> template_id
    timeout: float = 10.0


class Tokens(Protocol):
    """Where access tokens are kept between sends (``customers.store.TokenCache``)."""

    def get(self, appid: str, now: float) -> str | None: ...

    def put(self, appid: str, token: str, expires_at: float) -> None: ...


class MemoryTokens:
    """Tokens kept in this process only (previews, tests of the channel alone)."""

    def __init__(self):
        self.tokens: dict[str, tuple[str, float]] = {}
        self.lock = threading.Lock()

    def get(self, appid: str, now: float) -> str | None:
        with self.lock:
            token, until = self.tokens.get(appid, ("", 0.0))
        return token if token and until > now else None

    def put(self, appid: str, token: str, expires_at: float) -> None:
        with self.lock:
            self.tokens[appid] = (token, expires_at)


def scrub(text: str) -> str:
    """An error without the token or the secret a request's URL carried."""
    return re.sub(r"(access_token|secret)=[^&\s'\"]+", r"\1=…", text)


class TokenError(Exception):
    def __init__(self, outcome: Outcome):
        super().__init__(outcome.error)
        self.outcome = outcome


def _get_json(method: str, url: str, timeout: float, **kwargs) -> Response:
    raw = requests.request(method, url, timeout=timeout, **kwargs)
    return Response(raw.status_code, dict(raw.headers), raw.content)


def errcode_of(response: Response, what: str) -> Outcome | None:
    """None when the platform answered ``errcode`` 0 (or none), else the outcome."""
    generic = status_outcome(response)
    if generic is not None:
        return generic
    answer = response.json()
    if not isinstance(answer, dict):
        return Outcome.retry(f"wechat {what}: not JSON: {response.body[:200]!r}", http_status=response.status)
    code = answer.get("errcode", 0)
    if code == 0:
        return None
    error = f"wechat {what} errcode {code}: {answer.get('errmsg')}"
    if code in TRANSIENT_CODES:
        return Outcome.retry(error, TRANSIENT_CODES[code], response.status)
    return Outcome.failed(error, response.status)


class WechatOfficialAccountChannel(CustomerChannel):
    name = "wechat_oa"
    address_field = "wechat_openid"

    @property
    def config(self) -> WechatConfig:
        return self.settings.get("wechat") or WechatConfig()

    @property
    def tokens(self) -> Tokens:
        tokens = self.settings.get("tokens")
        if tokens is None:
            tokens = self.settings["tokens"] = MemoryTokens()
        return tokens

    def missing(self) -> str | None:
        c = self.config
        absent = [
            n for n, v in (("CUSTOMER_WECHAT_APPID", c.appid), ("CUSTOMER_WECHAT_SECRET", c.secret)) if not v
        ]
        return f"not configured: {', '.join(absent)}" if absent else None

    def secrets(self) -> list[str]:
        return [self.config.secret] if self.config.secret else []

    def payload(self, note: CustomerNote, address: str, now: float) -> dict:
        when = datetime.fromtimestamp(now, UTC).astimezone(ZoneInfo(note.timezone))
        data = {
            "first": note.subject,
            "keyword1": note.case_id or "-",
            "keyword2": when.strftime("%Y-%m-%d %H:%M"),
            "remark": note.text,
        }
        body = {
            "touser": address,
            "template_id": self.config.templates.get(note.purpose, ""),
            "data": {k: {"value": v[:MAX_FIELD]} for k, v in data.items()},
        }
        if note.url:
            body["url"] = note.url
        return body

    def preview(self, note: CustomerNote, address: str) -> dict:
        return self.payload(note, address, 0)

    def access_token(self, now: float, renew: bool = False) -> str:
        """The cached token, or a new one (``renew``: the platform refused the cached one)."""
        c = self.config
        if not renew:
            cached = self.tokens.get(c.appid, now)
            if cached:
                return cached
        params = {"grant_type": "client_credential", "appid": c.appid, "secret": c.secret}
        try:
            response = _get_json("GET", f"{c.api}/cgi-bin/token", c.timeout, params=params)
        except requests.RequestException as exc:
            raise TokenError(Outcome.retry(scrub(f"wechat token: {type(exc).__name__}: {exc}"))) from exc
        problem = errcode_of(response, "token")
        answer = response.json() or {}
        if problem is None and not answer.get("access_token"):
            problem = Outcome.retry(f"wechat token: no access_token in {response.body[:200]!r}")
        if problem is not None:
            raise TokenError(problem)
        expires_in = float(answer.get("expires_in") or 7200)
        self.tokens.put(c.appid, answer["access_token"], now + max(60.0, expires_in - TOKEN_MARGIN))
        return answer["access_token"]

    def deliver(self, note: CustomerNote, address: str, now: float) -> Outcome:
        c = self.config
        if not c.templates.get(note.purpose):
            return Outcome.failed(f"no WeChat template for {note.purpose} (CUSTOMER_WECHAT_TEMPLATES)")
        body = self.payload(note, address, now)
        try:
            for renew in (False, True):
                token = self.access_token(now, renew)
                response = _get_json(
                    "POST",
                    f"{c.api}/cgi-bin/message/template/send",
                    c.timeout,
                    params={"access_token": token},
                    json=body,
                )
                answer = response.json() if response.status == 200 else None
                code = answer.get("errcode") if isinstance(answer, dict) else None
                if code in STALE_TOKEN_CODES and not renew:
                    continue  # the token was replaced or expired early: once more with a new one
                problem = errcode_of(response, "template/send")
                if problem is not None:
                    return problem
                return Outcome.ok(detail=str((answer or {}).get("msgid") or ""), http_status=response.status)
        except TokenError as exc:
            return exc.outcome
        except requests.Timeout as exc:
            return Outcome.retry(scrub(f"timeout: {exc}"))
        except requests.ConnectionError as exc:
            return Outcome.retry(scrub(f"connection error: {exc}"))
        except requests.RequestException as exc:
            return Outcome.failed(scrub(f"{type(exc).__name__}: {exc}"))
        raise AssertionError("unreachable")  # pragma: no cover


CUSTOMER_CHANNEL = WechatOfficialAccountChannel
