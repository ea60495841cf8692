"""Alibaba Cloud SMS (阿里云短信服务), API ``SendSms`` (version 2017-05-25), the RPC-style
HTTP API with signature version 1.0 (HMAC-SHA1): one vendor of the ``sms`` channel.

An SMS in China goes out only on a template the vendor approved (``TemplateCode``) under
an approved signature (``SignName``); we send the template's variables
(``TemplateParam``, JSON). So an operator registers one template per purpose and language
with the wording of ``templates/<language>/<purpose>.sms.txt.j2`` (the text kept in our
log) and configures its code in ``CUSTOMER_SMS_TEMPLATES``.

Signing, as the vendor documents it: every parameter but ``Signature``, sorted by name,
each name and value percent-encoded (RFC 3986: unreserved ``A-Z a-z 0-9 - _ . ~`` kept,
everything else ``%XY`` in upper case, UTF-8), joined ``k=v`` with ``&``; the string to
sign is ``<METHOD>&%2F&<percent-encoded query>``; the signature is
Base64(HMAC-SHA1(AccessKeySecret + "&", string to sign)).

Answers: ``Code`` ``OK`` is sent (``BizId`` kept); throttling (``Throttling*``,
``isv.BUSINESS_LIMIT_CONTROL``: the per-number minute/hour limits), system errors
(``isp.SYSTEM_ERROR`` …), a reused nonce and HTTP 5xx are transient; anything else
(a bad number, template or signature, no balance) is permanent. The answers about the
number itself (``NUMBER_CODES``: an illegal or blacklisted number, its per-number
limits) are the number's, not the vendor's failure: no other vendor is tried for them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from services.notify.channels.base import CustomerNote, Outcome
from services.notify.channels.http import Response, post, retry_after
from services.notify.channels.sms.vendor import Sent, not_configured

API_VERSION = "2017-05-25"
TRANSIENT_CODES = ("isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR", "ServiceUnavailable", "SignatureNonceUsed")
THROTTLED_CODES = ("isv.BUSINESS_LIMIT_CONTROL", "Throttling", "Throttling.User", "Throttling.Api")
THROTTLE_WAIT = 60.0  # the per-number limits count per minute and hour
NUMBER_CODES = (
    "isv.MOBILE_NUMBER_ILLEGAL",
    "isv.MOBILE_COUNT_OVER_LIMIT",
    "isv.BLACK_KEY_CONTROL_LIMIT",
    "isv.BUSINESS_LIMIT_CONTROL",
    "isv.DAY_LIMIT_CONTROL",
)


@dataclass(frozen=True)
class SmsConfig:
    endpoint: str = "https://dysmsapi.aliyuncs.com/"
    access_key_id: str = ""
    access_key_secret: str = ""
    sign_name: str = ""
    region: str = "cn-hangzhou"
    templates: dict = field(default_factory=dict)  # "<purpose>.<language>" -> TemplateCode
    timeout: float = 10.0


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding of UTF-8, as the signature needs it."""
    return quote(value, safe="-_.~")


def canonical_query(params: dict[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(params[k])}" for k in sorted(params))


def signature(method: str, params: dict[str, str], secret: str) -> str:
    """The request's ``Signature`` (Base64, not yet URL-encoded)."""
    to_sign = f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def phone_number(phone: str) -> str:
    """The vendor's ``PhoneNumbers`` form: a mainland number as its 11 digits, any other
    with its country code after ``00``."""
    digits = re.sub(r"[\s\-().]", "", phone)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            return digits[len(prefix) :]
    if digits.startswith("+"):
        return "00" + digits[1:]
    return digits


def answer_code(response: Response) -> str:
    return str((response.json() or {}).get("Code") or "")


def about_number(response: Response) -> bool:
    """Did the vendor refuse the number (not fail itself)?"""
    return answer_code(response) in NUMBER_CODES


def interpret(response: Response) -> Outcome:
    answer = response.json() or {}
    code = answer_code(response)
    error = f"aliyun sms {code or response.status}: {answer.get('Message') or response.body[:200]!r}"
    if response.status == 200 and code == "OK":
        return Outcome.ok(detail=str(answer.get("BizId") or ""), http_status=200)
    if code in THROTTLED_CODES or code.startswith("Throttling") or response.status == 429:
        return Outcome.retry(error, retry_after(response.headers) or THROTTLE_WAIT, response.status)
    if code in TRANSIENT_CODES or response.status >= 500:
        return Outcome.retry(error, retry_after(response.headers), response.status)
    return Outcome.failed(error, response.status)


class AliyunSms:
    """Sends one customer SMS through Alibaba Cloud (``SmsChannel``'s vendor ``aliyun``)."""

    name = "aliyun"

    def __init__(self, settings: dict):
        self.settings = settings

    @property
    def config(self) -> SmsConfig:
        return self.settings.get("sms") or SmsConfig()

    def missing(self) -> str | None:
        c = self.config
        return not_configured(
            (
                ("CUSTOMER_SMS_ACCESS_KEY_ID", c.access_key_id),
                ("CUSTOMER_SMS_ACCESS_KEY_SECRET", c.access_key_secret),
                ("CUSTOMER_SMS_SIGN_NAME", c.sign_name),
            )
        )

    def secrets(self) -> list[str]:
        return [self.config.access_key_secret] if self.config.access_key_secret else []

    def template_code(self, note: CustomerNote) -> str | None:
        return self.config.templates.get(f"{note.purpose}.{note.language}")

    def params(self, note: CustomerNote, address: str, now: float) -> dict[str, str]:
        """Every request parameter but ``Signature``."""
        c = self.config
        return {
            "AccessKeyId": c.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "OutId": note.message_id[:256],
            "PhoneNumbers": phone_number(address),
            "RegionId": c.region,
            "SignName": c.sign_name,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": str(uuid.uuid4()),
            "SignatureVersion": "1.0",
            "TemplateCode": self.template_code(note) or "",
            "TemplateParam": json.dumps(note.params, ensure_ascii=False, separators=(",", ":")),
            "Timestamp": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": API_VERSION,
        }

    def preview(self, note: CustomerNote, address: str) -> dict:
        shown = self.params(note, address, 0)
        return {k: v for k, v in shown.items() if k not in ("AccessKeyId", "SignatureNonce", "Timestamp")}

    def send(self, note: CustomerNote, address: str, now: float) -> Sent:
        if not self.template_code(note):
            return Sent(
                Outcome.failed(f"no SMS template for {note.purpose}.{note.language} (CUSTOMER_SMS_TEMPLATES)")
            )
        params = self.params(note, address, now)
        params["Signature"] = signature("POST", params, self.config.access_key_secret)
        body = canonical_query(params).encode("ascii")
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        refused: list[bool] = []

        def read(response: Response) -> Outcome:
            refused.append(about_number(response))
            return interpret(response)

        outcome = post(self.config.endpoint, body, form, read, self.config.timeout)
        return Sent(outcome, bool(refused and refused[0]))
