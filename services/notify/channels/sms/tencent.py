"""Tencent Cloud SMS (腾讯云短信), API ``SendSms`` version 2021-01-11, signed with
TC3-HMAC-SHA256 (TencentCloud API signature v3): one vendor of the ``sms`` channel.

The request: ``POST https://sms.tencentcloudapi.com/``, a JSON body
(``PhoneNumberSet`` in E.164, ``SmsSdkAppId``, ``SignName``, ``TemplateId``,
``TemplateParamSet``: the template's variables in order, ``SessionContext``: our
message id), headers ``X-TC-Action``, ``X-TC-Version``, ``X-TC-Timestamp``,
``X-TC-Region`` and ``Authorization``.

Signing, as the vendor documents it: the canonical request is the method, the path
``/``, an empty query, the signed headers ``content-type``, ``host`` and ``x-tc-action``
(``name:value`` lines, names and values in lower case), their names joined with ``;``,
and the hex SHA-256 of the body, one per line; the string to sign is
``TC3-HMAC-SHA256``, the timestamp, ``<date>/sms/tc3_request`` (date: the timestamp's
UTC day) and the hex SHA-256 of the canonical request, one per line; the key is derived
``HMAC("TC3" + SecretKey, date)`` → ``HMAC(·, "sms")`` → ``HMAC(·, "tc3_request")`` and
the signature is the hex HMAC-SHA256 of the string to sign under it. The Authorization
header is ``TC3-HMAC-SHA256 Credential=<SecretId>/<date>/sms/tc3_request,
SignedHeaders=content-type;host;x-tc-action, Signature=<signature>``.

Answers come with HTTP 200: ``Response.Error.Code`` for a request refused as a whole
(``AuthFailure.*``, ``InternalError.*``, ``RequestLimitExceeded`` …), else one
``SendStatusSet`` entry with ``Code`` ``Ok`` (its ``SerialNo`` kept: status reports
name it) or the reason for that number. Internal errors and the API rate limit are
transient; the number's own refusals (``NUMBER_CODES``) are the number's, not the
vendor's; anything else (credentials, template, signature, balance) is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

from services.notify.channels.base import CustomerNote, Outcome
from services.notify.channels.http import Response, post, retry_after, status_outcome
from services.notify.channels.sms.aliyun import phone_number
from services.notify.channels.sms.vendor import Sent, not_configured
from services.notify.customers.render import SMS_PARAMS

API_VERSION = "2021-01-11"
SERVICE = "sms"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
TRANSIENT_PREFIXES = ("InternalError", "RequestLimitExceeded", "ResourceUnavailable")
NUMBER_CODES = (
    "InvalidParameterValue.IncorrectPhoneNumber",
    "FailedOperation.PhoneNumberInBlacklist",
    "FailedOperation.PhoneNumberParseFail",
    "LimitExceeded.PhoneNumberDailyLimit",
    "LimitExceeded.PhoneNumberOneHourLimit",
    "LimitExceeded.PhoneNumberThirtySecondLimit",
    "LimitExceeded.PhoneNumberSameContentDailyLimit",
    "LimitExceeded.PhoneNumberCountLimit",
)
NUMBER_LIMIT_WAIT = 60.0


@dataclass(frozen=True)
class TencentConfig:
    endpoint: str = "https://sms.tencentcloudapi.com/"
    secret_id: str = ""
    secret_key: str = ""
    sdk_app_id: str = ""
    sign_name: str = ""
    region: str = "ap-guangzhou"
    templates: dict = field(default_factory=dict)  # "<purpose>.<language>" -> TemplateId
    timeout: float = 10.0


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


SIGNED_HEADERS = "content-type;host;x-tc-action"


def canonical_request(host: str, payload: bytes, action: str, content_type: str = CONTENT_TYPE) -> str:
    """Header names and values in lower case, as the vendor canonicalises them."""
    headers = f"content-type:{content_type}\nhost:{host}\nx-tc-action:{action}\n".lower()
    return f"POST\n/\n\n{headers}\n{SIGNED_HEADERS}\n{sha256_hex(payload)}"


def string_to_sign(canonical: str, timestamp: int, service: str = SERVICE) -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    return f"{ALGORITHM}\n{timestamp}\n{date}/{service}/tc3_request\n{sha256_hex(canonical)}"


def tc3_signature(secret_key: str, to_sign: str, timestamp: int, service: str = SERVICE) -> str:
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")

    def mac(key: bytes, text: str) -> bytes:
        return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()

    key = mac(mac(mac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(secret_id: str, secret_key: str, host: str, payload: bytes, timestamp: int) -> str:
    to_sign = string_to_sign(canonical_request(host, payload, "SendSms"), timestamp)
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    return (
        f"{ALGORITHM} Credential={secret_id}/{date}/{SERVICE}/tc3_request, "
        f"SignedHeaders={SIGNED_HEADERS}, Signature={tc3_signature(secret_key, to_sign, timestamp)}"
    )


def e164(phone: str) -> str:
    """``+86`` and the 11 digits for a mainland number, ``+<country code>…`` for others."""
    number = phone_number(phone)
    return "+" + number[2:] if number.startswith("00") else "+86" + number


def classify(response: Response) -> Sent:
    """The vendor's answer: sent (the serial number kept), or why not."""
    generic = status_outcome(response)
    if generic is not None:
        return Sent(generic)
    answer = (response.json() or {}).get("Response") or {}
    error = answer.get("Error")
    if error:
        code = str(error.get("Code") or "")
        text = f"tencent sms {code}: {error.get('Message')!r}"
        if code.startswith(TRANSIENT_PREFIXES):
            return Sent(Outcome.retry(text, retry_after(response.headers), response.status))
        return Sent(Outcome.failed(text, response.status))
    statuses = answer.get("SendStatusSet") or [{}]
    status = statuses[0]
    code = str(status.get("Code") or "")
    if code == "Ok":
        return Sent(Outcome.ok(detail=str(status.get("SerialNo") or ""), http_status=response.status))
    text = f"tencent sms {code or 'no status'}: {status.get('Message')!r}"
    if code in NUMBER_CODES:
        if code.startswith("LimitExceeded"):
            return Sent(Outcome.retry(text, NUMBER_LIMIT_WAIT, response.status), about_number=True)
        return Sent(Outcome.failed(text, response.status), about_number=True)
    if code.startswith(TRANSIENT_PREFIXES):
        return Sent(Outcome.retry(text, None, response.status))
    return Sent(Outcome.failed(text, response.status))


class TencentSms:
    """Sends one customer SMS through Tencent Cloud (``SmsChannel``'s vendor ``tencent``)."""

    name = "tencent"

    def __init__(self, settings: dict):
        self.settings = settings

    @property
    def config(self) -> TencentConfig:
        return self.settings.get("sms_tencent") or TencentConfig()

    def missing(self) -> str | None:
        c = self.config
        return not_configured(
            (
                ("CUSTOMER_SMS_TENCENT_SECRET_ID", c.secret_id),
                ("CUSTOMER_SMS_TENCENT_SECRET_KEY", c.secret_key),
                ("CUSTOMER_SMS_TENCENT_SDK_APP_ID", c.sdk_app_id),
                ("CUSTOMER_SMS_TENCENT_SIGN_NAME", c.sign_name),
            )
        )

    def secrets(self) -> list[str]:
        return [self.config.secret_key] if self.config.secret_key else []

    def template_id(self, note: CustomerNote) -> str | None:
        return self.config.templates.get(f"{note.purpose}.{note.language}")

    def body(self, note: CustomerNote, address: str) -> dict:
        """The request body: the template's variables in the order the purpose lists them."""
        order = SMS_PARAMS.get(note.purpose, tuple(note.params))
        return {
            "PhoneNumberSet": [e164(address)],
            "SmsSdkAppId": self.config.sdk_app_id,
            "SignName": self.config.sign_name,
            "TemplateId": self.template_id(note) or "",
            "TemplateParamSet": [str(note.params.get(name, "")) for name in order],
            "SessionContext": note.message_id[:512],
        }

    def preview(self, note: CustomerNote, address: str) -> dict:
        return {k: v for k, v in self.body(note, address).items() if k != "SmsSdkAppId"}

    def send(self, note: CustomerNote, address: str, now: float) -> Sent:
        if not self.template_id(note):
            return Sent(
                Outcome.failed(
                    f"no SMS template for {note.purpose}.{note.language} (CUSTOMER_SMS_TENCENT_TEMPLATES)"
                )
            )
        c = self.config
        payload = json.dumps(self.body(note, address), ensure_ascii=False).encode("utf-8")
        timestamp = int(now)
        host = urlsplit(c.endpoint).netloc
        headers = {
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": "SendSms",
            "X-TC-Version": API_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": c.region,
            "Authorization": authorization(c.secret_id, c.secret_key, host, payload, timestamp),
        }
        answers: list[Sent] = []

        def read(response: Response) -> Outcome:
            answers.append(classify(response))
            return answers[0].outcome

        outcome = post(c.endpoint, payload, headers, read, c.timeout)
        return answers[0] if answers else Sent(outcome)
