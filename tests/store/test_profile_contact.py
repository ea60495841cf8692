"""What the profiles service tells notify before a customer message (customer_contact), and
the messages sent to customers on the timeline, counted by contact fatigue."""

from datetime import UTC, datetime, timedelta

import pytest

from contracts.feedback import parse_feedback
from services.profiles.recordings import customer_message_recording, feedback_recording
from services.profiles.store import ProfileStore

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def profiles(db):
    store = ProfileStore(db)
    store.ensure_indexes()
    return store


def record_feedback(profiles, cid: str, days_ago: float, n: int = 0, **customer) -> None:
    event = {
        "schema_version": 1,
        "event_id": f"{cid}-{days_ago}-{n}",
        "source": "survey-app",
        "channel": "app",
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "customer": {"id": cid, **customer},
        "scores": {"nps": 5},
    }
    profiles.recorder.record_many([feedback_recording(parse_feedback(event))])


def outcome(message_id: str, status: str = "sent", hours_ago: float = 1) -> dict:
    # as notify announces it (services/notify/customers/outreach.py outcome_payload)
    return {
        "message_id": message_id,
        "purpose": "followup_survey",
        "customer_id": "C1",
        "case_id": "CASE-1",
        "status": status,
        "channel": "sms" if status == "sent" else None,
        "reason": None if status == "sent" else "opted_out",
        "finished_at": NOW - timedelta(hours=hours_ago),
    }


def test_the_contact_carries_the_newest_addresses_zone_and_openid(profiles):
    attributes = {"wechat_openid": "oC-1", "timezone": "Europe/Berlin"}
    record_feedback(profiles, "C1", 10, phone="13800138000", email="old@example.com")
    record_feedback(profiles, "C1", 2, name="王芳", email="new@example.com", attributes=attributes)
    contact = profiles.queries.customer_contact("C1", fatigue_days=7, now=NOW)
    assert {k: contact[k] for k in ("phone", "email", "wechat_openid", "timezone", "name")} == {
        "phone": "13800138000",
        "email": "new@example.com",
        "wechat_openid": "oC-1",
        "timezone": "Europe/Berlin",
        "name": "王芳",
    }
    assert (contact["known"], contact["erased"]) == (True, False)
    assert (contact["fatigue"]["feedback"], contact["fatigue"]["outbound"]) == (1, 0)
    assert profiles.queries.customer_contact("nobody") == {
        "customer_id": "nobody",
        "known": False,
        "erased": False,
    }


def test_an_erased_customer_has_no_address_at_all(profiles):
    record_feedback(profiles, "C1", 2, phone="13800138000", email="c1@example.com")
    profiles.privacy.erase("C1", by="dpo", request_ref="DSR-1", now=NOW)
    contact = profiles.queries.customer_contact("C1")
    assert contact == {"customer_id": "C1", "known": True, "erased": True}


def test_sent_messages_are_outbound_contacts_counted_once(profiles):
    record_feedback(profiles, "C1", 2)
    recordings = [
        customer_message_recording(o) for o in (outcome("m1"), outcome("m1"), outcome("m2", hours_ago=3))
    ]
    profiles.recorder.record_many(recordings)
    fatigue = profiles.queries.contact_fatigue("C1", 7, NOW, limit=3)
    assert (fatigue["contacts"], fatigue["feedback"], fatigue["outbound"], fatigue["fatigued"]) == (
        3,
        1,
        2,
        True,
    )
    assert fatigue["by_channel"] == {"app": 1, "sms": 2}
    profile = profiles.queries.get_profile("C1", 10, now=NOW)
    assert profile["last_outreach"]["at"] == NOW - timedelta(hours=1)
    entries = [e for e in profile["timeline"] if e["kind"] == "customer_message"]
    assert sorted(e["message_id"] for e in entries) == ["m1", "m2"]
