"""The SMS and WeChat vendors' callbacks, read: who may call, and what they said.

The vendors push to the gateway (docs/notify.md "Delivery receipts and SMS replies"):

* **Alibaba Cloud SMS**, HTTP batch push mode (HTTP批量推送): ``SmsReport`` (delivery
  reports) and ``SmsUp`` (上行短信, the customer's replies), each a JSON array; the
  answer is ``{"code": 0, "msg": "接收成功"}`` with HTTP 200, anything else makes it push
  again (after 1, 5 and 10 minutes).
* **Tencent Cloud SMS**: the status callback (短信下发状态通知, a JSON array) and the
  reply callback (短信回复, one JSON object); the answer is ``{"result": 0, "errmsg": "OK"}``.
* **WeChat official account**, the server configuration (服务器配置, plain-text mode):
  ``GET`` with ``signature``, ``timestamp``, ``nonce``, ``echostr`` to verify the URL,
  then ``POST`` of XML events, among them ``TEMPLATESENDJOBFINISH`` (a template
  message's delivery: ``Status`` ``success``, ``failed:user block``, ``failed: system
  failed``); ``signature`` is the hex SHA-1 of the sorted, concatenated ``token``,
  ``timestamp`` and ``nonce``. The answer is ``success``.

Neither SMS vendor signs these pushes (their documents define no signature or token for
them), so the callback URL carries a secret the deployment chooses (``SMS_CALLBACK_KEY``,
registered at the vendor as part of the URL: ``/callbacks/sms/<vendor>/<key>/…``); a
request with another key is refused with 403 before its body is read further. WeChat's
signature is checked with ``WECHAT_OA_SERVER_TOKEN``: none is 401, a wrong one 403, and a
timestamp more than five minutes away from now 403 (a replayed push).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from xml.etree import ElementTree

from services.gateway.errors import HttpError, bad_request

SMS_VENDORS = ("aliyun", "tencent")
MAX_AGE = 300.0  # seconds a WeChat push's timestamp may be away from now
ACK = {"aliyun": {"code": 0, "msg": "接收成功"}, "tencent": {"result": 0, "errmsg": "OK"}}


def check_sms_key(configured: str, given: str) -> None:
    """403 unless ``given`` is the deployment's callback key (constant-time)."""
    if not configured or not hmac.compare_digest(configured.encode(), (given or "").encode()):
        raise HttpError(403, "wrong callback key")


def wechat_signature(token: str, timestamp: str, nonce: str) -> str:
    return hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode("utf-8")).hexdigest()


def check_wechat(token: str, args, now: float | None = None) -> None:
    """WeChat's query-string signature: 401 without one, 403 for a wrong or stale one."""
    signature, timestamp, nonce = (args.get(k, "") for k in ("signature", "timestamp", "nonce"))
    if not (signature and timestamp and nonce):
        raise HttpError(401, "signature, timestamp and nonce required")
    if not token or not hmac.compare_digest(wechat_signature(token, timestamp, nonce), signature.lower()):
        raise HttpError(403, "wrong signature")
    moment = time.time() if now is None else now
    if not timestamp.isdigit() or abs(int(timestamp) - moment) > MAX_AGE:
        raise HttpError(403, "stale timestamp")


def _items(document, vendor: str, kind: str) -> list[dict]:
    """The pushed items: an array (Alibaba, Tencent reports) or one object (Tencent replies)."""
    if vendor == "tencent" and kind == "reply" and isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not document or not all(isinstance(i, dict) for i in document):
        raise bad_request(["body: a JSON array of objects expected"])
    if len(document) > 1000:
        raise bad_request(["body: at most 1000 items"])
    return document


def _text(item: dict, name: str, index: int, required: bool = True) -> str:
    value = item.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value) == "":
        raise bad_request([f"body.{index}.{name}: required, a string"])
    return str(value)


def sms_receipts(vendor: str, document) -> list[dict]:
    """The vendor's delivery reports as notify's receipts (``customers/receipts.py``)."""
    out = []
    for i, item in enumerate(_items(document, vendor, "report")):
        if vendor == "aliyun":
            success = item.get("success")
            if not isinstance(success, bool):
                raise bad_request([f"body.{i}.success: true or false"])
            ref = _text(item, "biz_id", i)
            code, text, at = item.get("err_code"), item.get("err_msg"), item.get("report_time")
        else:
            status = _text(item, "report_status", i)
            if status not in ("SUCCESS", "FAIL"):
                raise bad_request([f"body.{i}.report_status: SUCCESS or FAIL"])
            success, ref = status == "SUCCESS", _text(item, "sid", i)
            code, text, at = item.get("errmsg"), item.get("description"), item.get("user_receive_time")
        out.append(
            {
                "channel": "sms",
                "vendor_id": f"{vendor}:{ref}",
                "delivered": success,
                "code": _short(code, 64),
                "description": _short(text, 500),
                "at": _short(at, 64),
            }
        )
    return out


@dataclass(frozen=True)
class InboundSms:
    """One customer reply by SMS, in a neutral form."""

    vendor: str
    key: str  # idempotency: the vendor pushes again after a failure
    phone: str  # +<country code><number>
    text: str
    sent_at: str


def sms_replies(vendor: str, document) -> list[InboundSms]:
    out = []
    for i, item in enumerate(_items(document, vendor, "reply")):
        text = _text(item, "content" if vendor == "aliyun" else "text", i, required=False)
        if vendor == "aliyun":
            phone = _text(item, "phone_number", i)
            phone = phone if phone.startswith(("+", "00")) else "+86" + phone
            sent_at = _text(item, "send_time", i, required=False)
            key = f"aliyun:{_text(item, 'sequence_id', i)}"
        else:
            nation = _text(item, "nationcode", i).lstrip("+")
            phone = f"+{nation}{_text(item, 'mobile', i)}"
            sent_at = _text(item, "time", i)
            digest = hashlib.sha256(f"{phone}|{sent_at}|{text}".encode()).hexdigest()[:32]
            key = f"tencent:{digest}"  # Tencent's reply carries no id of its own
        out.append(InboundSms(vendor, key, phone, text[:2000], sent_at[:64]))
    return out


def wechat_receipt(body: bytes) -> dict | None:
    """The receipt in a ``TEMPLATESENDJOBFINISH`` event; None for any other event or message
    (answered ``success`` and otherwise left alone). 400 for XML that does not parse."""
    if len(body) > 64 * 1024:
        raise bad_request(["body: larger than 64 KiB"])
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:  # no entity expansion from outside
        raise bad_request(["body: a DOCTYPE is not allowed"])
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise bad_request([f"body: not XML ({exc})"]) from None
    fields = {child.tag: (child.text or "").strip() for child in root}
    if fields.get("MsgType") != "event" or fields.get("Event") != "TEMPLATESENDJOBFINISH":
        return None
    if not fields.get("MsgID"):
        raise bad_request(["body.MsgID: required"])
    status = fields.get("Status", "")
    return {
        "channel": "wechat_oa",
        "vendor_id": fields["MsgID"],
        "delivered": status == "success",
        "code": None if status == "success" else _short(status, 64),
        "description": None,
        "at": _short(fields.get("CreateTime"), 64),
    }


def _short(value, limit: int) -> str | None:
    return None if value is None or value == "" else str(value)[:limit]
