"""Delivery receipts (状态报告) of customer messages, and which surveys wait for a number.

``sent`` means the vendor took the message; a receipt is the vendor's later word that
it reached the customer (``delivered``) or not (``undelivered``, with the vendor's
error code: the number is out of service, the customer blocked the account …). The
gateway takes the vendors' callbacks (Alibaba Cloud ``SmsReport``, Tencent Cloud's
status callback, WeChat ``TEMPLATESENDJOBFINISH``) and hands them over in one neutral
form (``ReceiptSchema``); a message is found by its channel and the vendor's reference
kept when it was sent (``vendor_id``: ``aliyun:<BizId>``, ``tencent:<SerialNo>``, the
WeChat ``msgid``).

Every receipt is kept first (``customer_receipts``, once per reference: the vendors
push again after a failure), then applied to a message still ``sent``; one that comes
before its message was recorded as sent waits and is applied when it is. The changed
message is announced again as ``customer_message_outcome`` (status ``delivered`` or
``undelivered``, ``error_code``) through the same outbox as the first outcome.

The survey look-up by number serves SMS replies without a reply code: notify keeps no
address, only a keyed hash of the number a survey went to (``address_key``, HMAC under
``SURVEY_SECRET``), so a number can be matched and not read back.
"""

from __future__ import annotations

import hashlib
import hmac

from marshmallow import fields, validate

from services.common import settings
from services.common.validation import StrictSchema, load_valid
from services.notify.channels.sms import phone_number

DELIVERED, UNDELIVERED = "delivered", "undelivered"
RECEIPT_CHANNELS = ("sms", "wechat_oa")
MAX_RECEIPTS = 1000


class ReceiptSchema(StrictSchema):
    channel = fields.String(required=True, validate=validate.OneOf(RECEIPT_CHANNELS))
    vendor_id = fields.String(required=True, validate=validate.Length(min=1, max=300))
    delivered = fields.Boolean(required=True)
    code = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=500))
    at = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=64))


class ReceiptsSchema(StrictSchema):
    receipts = fields.List(
        fields.Nested(ReceiptSchema), required=True, validate=validate.Length(min=1, max=MAX_RECEIPTS)
    )


def load_receipts(items) -> list[dict]:
    """Valid receipts; BadRequest naming the field (``receipts.2.vendor_id``)."""
    return load_valid(ReceiptsSchema, {"receipts": items}, shape="a list of receipts")["receipts"]


def status_of(receipt: dict) -> str:
    return DELIVERED if receipt["delivered"] else UNDELIVERED


def address_key(channel: str, address: str) -> str | None:
    """The keyed hash a survey's number is matched by (None without ``SURVEY_SECRET``:
    then no survey goes out either)."""
    secret = settings.get("SURVEY_SECRET")
    if channel != "sms" or not secret or not address:
        return None
    return hmac.new(secret.encode(), f"phone:{phone_number(address)}".encode(), hashlib.sha256).hexdigest()


def record(store, receipts: list[dict], now: float) -> tuple[dict, list[dict]]:
    """Keep each receipt and apply it; ``(counts, the messages it changed)``: ``applied``,
    ``waiting`` (no message sent under that reference yet), ``repeated`` (kept already)."""
    counts = {"applied": 0, "waiting": 0, "repeated": 0}
    changed = []
    for receipt in receipts:
        if not store.keep_receipt(receipt, status_of(receipt), now):
            counts["repeated"] += 1
            continue
        doc = store.apply_receipt(receipt["channel"], receipt["vendor_id"], now)
        if doc is None:
            counts["waiting"] += 1
        else:
            counts["applied"] += 1
            changed.append(doc)
    return counts, changed
