"""Delivery receipts of customer messages on the real store: a receipt turns a sent
message delivered or undelivered and announces it again (contract-checked), once
however often the vendor pushes it; one that comes before its message was recorded as
sent waits for it; and the surveys waiting for a number are found by its keyed hash."""

import time

import pytest
from nameko import config

from services.common.errors import BadRequest
from services.notify.customers import receipts
from services.notify.receipt_entrypoints import ReceiptEntrypoints
from tests.store.test_customer_outreach import (  # noqa: F401 - the fixture
    ask,
    known,
    outreach,
    sms,  # noqa: F401 - the fixture
    stores,
)


def sent(profiles, notify, sms, announced, message_id="m1", customer="C1", **extra):  # noqa: F811
    run = outreach(profiles, notify, sms, announced)
    now = float(int(time.time()))
    run.accept([ask(message_id, customer_id=customer, **extra)], now)
    return run, notify.customers.get(message_id)


def test_an_undelivered_report_is_recorded_with_the_vendors_code_and_announced_once(stores, sms):  # noqa: F811
    profiles, notify = stores
    known(profiles, "C1")
    announced: list = []
    run, doc = sent(profiles, notify, sms, announced)
    assert doc["status"] == "sent" and doc["vendor_id"] == f"aliyun:{sms.sent[0]['biz_id']}"
    report = {
        "channel": "sms", "vendor_id": doc["vendor_id"], "delivered": False,
        "code": "MK:0001", "description": "用户停机", "at": "2026-12-06 10:00:00",
    }  # fmt: skip
    counts, changed = receipts.record(notify.customers, receipts.load_receipts([report]), time.time())
    assert counts == {"applied": 1, "waiting": 0, "repeated": 0}
    run.publish(changed)
    first, second = announced
    assert first["status"] == "sent"
    assert (second["status"], second["error_code"], second["reason"]) == (
        "undelivered",
        "MK:0001",
        "MK:0001 用户停机",
    )
    assert second["message_id"] == "m1" and second["channel"] == "sms"
    # the vendor pushes it again: kept once, nothing announced
    counts, changed = receipts.record(notify.customers, receipts.load_receipts([report]), time.time())
    assert counts == {"applied": 0, "waiting": 0, "repeated": 1} and changed == []
    stored = notify.customers.get("m1")
    assert stored["status"] == "undelivered" and stored["receipt"]["code"] == "MK:0001"


def test_a_receipt_faster_than_the_sent_record_waits_and_is_applied_when_it_is(stores, sms):  # noqa: F811
    profiles, notify = stores
    known(profiles, "C1")
    announced: list = []
    early = {"channel": "sms", "vendor_id": "aliyun:000001^0", "delivered": True, "code": "DELIVERED"}
    counts, _ = receipts.record(notify.customers, receipts.load_receipts([early]), time.time())
    assert counts == {"applied": 0, "waiting": 1, "repeated": 0}
    sent(profiles, notify, sms, announced)  # the fake's first BizId is 000001^0
    [outcome] = announced  # the sent outcome is the delivered one at once
    assert outcome["status"] == "delivered" and outcome["error_code"] == "DELIVERED"


def test_receipts_are_checked_field_by_field():
    bad = [{"channel": "sms", "vendor_id": "", "delivered": "maybe"}]
    with pytest.raises(BadRequest) as refused:
        receipts.load_receipts(bad)
    assert "receipts.0.vendor_id" in str(refused.value) and "receipts.0.delivered" in str(refused.value)


class Receipts(ReceiptEntrypoints):
    """The entrypoints' code over a test outreach (as NotifyService provides it)."""

    def __init__(self, run):
        self.run = run

    def _outreach(self):
        return self.run


def test_the_survey_sent_to_a_number_is_found_by_its_keyed_hash_only(stores, sms):  # noqa: F811
    profiles, notify = stores
    known(profiles, "C1", phone="+86 138-0013-8000")
    with config.patch({"SURVEY_SECRET": "s3cret"}):
        run, doc = sent(profiles, notify, sms, [])
        assert "13800138000" not in str(doc) and len(doc["address_key"]) == 64
        rpc = Receipts(run)
        found = rpc.surveys_for_phone("+8613800138000")
        assert found == [{"message_id": "m1", "case_id": "CASE-1", "reply_code": "482913"}]
        assert rpc.surveys_for_phone("13900139000") == []
