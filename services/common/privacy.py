"""Personal data and secrets kept out of log records and error texts.

Every service declares ``masked_logs = MaskedLogs()``; its ``setup`` installs
``MaskingFilter`` as a log-record factory for the whole process, so every
record of every logger (ours, nameko's, kombu's, pymongo's command log at
DEBUG) is masked when it is created, before any handler, formatter or
capture sees it. Handlers configured later (``nameko run``'s LOGGING,
pytest's caplog) need nothing of their own.

What is masked (``mask``):

* mainland China mobile numbers ``1[3-9]\\d{9}`` (optionally ``86``/``+86``
  prefixed, ``-`` or space separated): ``138****8000``;
* other ``+country`` numbers: every digit but the last four becomes ``*``;
* e-mail addresses: ``w***@example.com`` (the domain stays: it tells an
  operator which relay refused);

and what is redacted (``redact``, also applied by ``mask``):

* registered secret values (``register_secret``): the SMTP password and the
  passwords in ``MONGO_URI`` / ``AMQP_URI`` (registered by ``MaskedLogs``),
  each IM destination's webhook token, key, signing secret (registered by
  the notify pipeline before it sends);
* URL passwords (``scheme://user:***@host``), secret query parameters
  (``access_token``, ``key``, ``sign``, ``sig``, ``token``, ``secret``,
  ``password``, ...), ``Bearer`` credentials, our API tokens (``cxt_…``)
  and ``"password"/"secret"/"token": "…"`` pairs in JSON-like text.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from urllib.parse import unquote, urlsplit

from nameko.extensions import DependencyProvider

REDACTED = "***"

# ASCII classes only: a number or address written right after Chinese text
# (请回电13800138000) must still be found, and \w would match the Chinese character.
# In JSON text (the driver's command log) the Chinese character is an escape,
# \u7535, and a newline is \n: their last character does not glue to the number.
_LEFT = r"(?:(?<=\\u[0-9a-fA-F]{4})|(?<=\\[nrtbf])|(?<![0-9A-Za-z_+]))"
_CN_MOBILE = re.compile(_LEFT + r"((?:\+|00)?86[ -]?)?(1[3-9][0-9])[ -]?([0-9]{4})[ -]?([0-9]{4})(?![0-9])")
_INTL_PHONE = re.compile(_LEFT + r"\+[0-9]{1,3}(?:[ -]?[0-9]){6,14}(?![0-9])")
_EMAIL = re.compile(
    r"(?:(?<=\\u[0-9a-fA-F]{4})|(?<=\\[nrtbf])|(?<![0-9A-Za-z._%+\\-]))"
    r"([A-Za-z0-9])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)

_SECRET_NAMES = r"access_token|api_key|apikey|token|secret|password|passwd|pwd|key|sign|signature|sig"
_URL_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)([^@\s/]+)@", re.I)
_QUERY_SECRET = re.compile(rf"([?&](?:{_SECRET_NAMES})=)[^&\s\"'<>]+", re.I)
# "secret": "…" in JSON or a repr, also JSON inside a JSON string (\"secret\": \"…\"),
# as the database driver's DEBUG command log prints documents
_PAIR_SECRET = re.compile(
    r"""(\\?["']?\b(?:password|passwd|secret|token|access_token|api_key|signature|smtp_password|webhook)"""
    r"""\b\\?["']?\s*[:=]\s*\\?["'])([^"'\\]+)(\\?["'])""",
    re.I,
)
_BEARER = re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/=-]+", re.I)
_API_TOKEN = re.compile(r"\bcxt_[A-Za-z0-9_-]{8,}")
# a follow-up survey link's signed token (survey_links.py): whoever holds it can answer
_SURVEY_LINK = re.compile(r"(/survey/)[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

_secrets: set[str] = set()
_lock = threading.Lock()
MIN_SECRET = 4  # shorter values would mask ordinary words


def register_secret(value) -> None:
    """Never show ``value`` in a log record or an error text from now on."""
    if isinstance(value, str) and len(value) >= MIN_SECRET and value not in _secrets:
        with _lock:
            _secrets.add(value)
            decoded = unquote(value)
            if decoded != value and len(decoded) >= MIN_SECRET:
                _secrets.add(decoded)


def url_secrets(url: str) -> list[str]:
    """The parts of a webhook URL that authenticate it: its path (Slack, Feishu and
    Teams put the token there), its query string and each long query value, its password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    out = [url]
    if parts.password:
        out.append(parts.password)
    if parts.path.strip("/"):
        out.append(parts.path)
    if parts.query:
        out.append(parts.query)
        # a token is long; short values (format=json, timestamp=1) would mask common words
        out += [v for v in (pair.partition("=")[2] for pair in parts.query.split("&")) if len(v) >= 8]
    return [s for s in out if s]


def redact(text: str, extra: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` without registered secrets, ``extra`` values and credential-shaped parts."""
    if not text:
        return text
    known = {*_secrets, *(s for s in extra if s and len(s) >= MIN_SECRET)}
    for secret in sorted(known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _URL_USERINFO.sub(rf"\1{REDACTED}@", text)
    text = _QUERY_SECRET.sub(rf"\1{REDACTED}", text)
    text = _PAIR_SECRET.sub(rf"\1{REDACTED}\3", text)
    text = _BEARER.sub(rf"\1{REDACTED}", text)
    text = _SURVEY_LINK.sub(rf"\1{REDACTED}", text)
    return _API_TOKEN.sub(f"cxt_{REDACTED}", text)


def _mask_cn(match: re.Match) -> str:
    prefix = match.group(1) or ""
    return f"{prefix}{match.group(2)}****{match.group(4)}"


def _mask_intl(match: re.Match) -> str:
    text = match.group(0)
    keep = 4
    out = []
    digits_left = sum(c.isdigit() for c in text)
    for c in text:
        if c.isdigit():
            out.append(c if digits_left <= keep else "*")
            digits_left -= 1
        else:
            out.append(c)
    return "".join(out)


def mask(text: str) -> str:
    """``text`` with phone numbers and e-mail addresses masked and secrets redacted."""
    if not text:
        return text
    text = redact(text)
    text = _EMAIL.sub(r"\1***@\2", text)
    text = _CN_MOBILE.sub(_mask_cn, text)
    return _INTL_PHONE.sub(_mask_intl, text)


class MaskingFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack text through ``mask``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "cx_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it for the formatter to report
            message = None
        if message is not None:
            record.msg, record.args = mask(message), None
        if record.exc_info and record.exc_info[0] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_text = mask(text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        record.cx_masked = True
        return True


_installed = False


def install() -> None:
    """Mask every log record of this process from now on (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()
        masking = MaskingFilter()

        def factory(*args, **kwargs):
            record = previous(*args, **kwargs)
            masking.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True


def register_configured_secrets() -> None:
    """The secrets in the settings: SMTP password, the survey links' key, database and broker
    passwords."""
    from nameko.constants import AMQP_URI_CONFIG_KEY

    from services.common import settings

    register_secret(settings.get("SMTP_PASSWORD"))
    register_secret(settings.get("SURVEY_SECRET"))
    for key in ("MONGO_URI", AMQP_URI_CONFIG_KEY):
        uri = str(settings.get(key) or "")
        # MONGO_URI may list several hosts, which urlsplit cannot parse; the password
        # is what sits between the first "user:" and the last "@" before the hosts
        match = re.match(r"^[a-z][a-z0-9+.-]*://[^/:@]*:([^@/]*)@", uri, re.I)
        if match:
            register_secret(match.group(1))


class MaskedLogs(DependencyProvider):
    """Declared by every service: masks personal data and secrets in its logs."""

    def setup(self) -> None:
        register_configured_secrets()
        install()
