"""Notify's entrypoints for what customers' vendors report back, mixed into
``NotifyService``: delivery receipts and the surveys waiting for an SMS number
(``customers/receipts.py``). The gateway calls them from the vendors' callbacks."""

from __future__ import annotations

import time
from datetime import datetime

from services.common.errors import BadRequest
from services.common.mongo import jsonable
from services.common.rpc import rpc
from services.notify.customers import receipts
from services.notify.customers.outreach import Outreach


class ReceiptEntrypoints:
    """The service class provides ``_outreach()``."""

    def _outreach(self) -> Outreach:
        raise NotImplementedError  # NotifyService._outreach

    @rpc(expected_exceptions=BadRequest)
    def record_customer_receipts(self, items: list) -> dict:
        """Delivery receipts (``receipts.ReceiptSchema`` each): kept once, applied to the
        message sent under their reference, and its new outcome announced
        (``customer_message_outcome``: delivered / undelivered). Counts by what happened."""
        loaded = receipts.load_receipts(items)
        outreach = self._outreach()
        counts, changed = receipts.record(outreach.store, loaded, time.time())
        outreach.publish(changed)
        return counts

    @rpc(expected_exceptions=BadRequest)
    def surveys_for_phone(self, phone: str) -> list[dict]:
        """The follow-up surveys sent by SMS to ``phone`` that may still be answered
        (``{message_id, case_id, reply_code}``, newest first): an SMS reply without its
        reply code is matched to the one survey waiting for that number."""
        if not isinstance(phone, str) or not 5 <= len(phone.strip()) <= 32:
            raise BadRequest("phone: 5 to 32 characters")
        key = receipts.address_key("sms", phone.strip())
        if key is None:
            return []
        now = time.time()
        found = []
        for doc in self._outreach().store.surveys_for_address(key):
            request = doc.get("request") or {}
            code = (request.get("context") or {}).get("reply_code")
            not_after = request.get("not_after")
            expired = not_after is not None and _epoch(not_after) <= now
            if code and not expired:
                found.append({"message_id": doc["_id"], "case_id": doc.get("case_id"), "reply_code": code})
        return jsonable(found)


def _epoch(value) -> float:
    return (datetime.fromisoformat(value) if isinstance(value, str) else value).timestamp()
