"""The profiles service's entrypoints through nameko's worker_factory (real store)."""

import pytest
from nameko.testing.services import worker_factory

from contracts.feedback import parse_feedback
from contracts.messages import CaseStatusChangedV1
from services.common.errors import BadRequest, NotFound
from services.profiles.service import ProfilesService
from services.profiles.store import ProfileStore

NOW = "2026-11-23T12:00:00+00:00"


@pytest.fixture
def profiles(mongo_client, db_prefix):
    s = ProfileStore(mongo_client[f"{db_prefix}profiles"])
    s.ensure_indexes()
    return worker_factory(ProfilesService, store=s)


def event(n, cid="C1", at="2026-11-20T10:00:00+08:00", **scores):
    return parse_feedback(
        {
            "schema_version": 1,
            "event_id": f"e{n}",
            "source": "survey-app",
            "occurred_at": at,
            "customer": {"id": cid, "name": "王芳", "phone": "138 0013 8000", "tier": "vip"},
            "channel": "wechat",
            "scores": scores or {"nps": 3},
            "text": "快递太慢",
            "attributes": {"survey_id": "S1"},
        }
    )


def change(to, frm="open", at="2026-11-21T09:00:00+08:00"):
    return CaseStatusChangedV1().load(
        {
            "schema_version": 1,
            "case_id": "K1",
            "customer_id": "C1",
            "level": "P2",
            "from_status": frm,
            "to_status": to,
            "changed_at": at,
            "changed_by": "li.na",
        }
    )


def test_status_changes_are_handled_once_and_shown_with_rolling_scores(profiles):
    profiles.handle_feedback([event(1)])
    profiles.handle_feedback([event(2, at="2026-11-22T10:00:00+08:00", nps=5, csat=2)])
    profiles.handle_case_status_changed([change("assigned")])
    profiles.handle_case_status_changed([change("assigned")])  # redelivery
    p = profiles.get_profile("C1", now=NOW)
    assert p["scores"]["nps"]["avg_30d"] == 4.0 and p["scores"]["nps"]["count_30d"] == 2
    assert p["scores"]["csat"]["last"]["value"] == 2 and p["scores_as_of"] == NOW
    assert [e["kind"] for e in p["timeline"]].count("case_milestone") == 1
    assert p["open_cases"][0]["status"] == "assigned"
    page = profiles.get_profile("C1", timeline_limit=1, timeline_skip=1)["timeline"]
    assert [e["kind"] for e in page] == ["case_milestone"]


def test_rpc_arguments_are_validated_by_field(profiles):
    with pytest.raises(BadRequest, match="now: Not a valid"):
        profiles.get_profile("C1", now="yesterday")
    with pytest.raises(BadRequest, match="timeline_limit: Must be"):
        profiles.get_profile("C1", timeline_limit=10_000)
    with pytest.raises(BadRequest, match="segment: Must be one of"):
        profiles.list_segment("everyone")
    with pytest.raises(BadRequest, match="days: Must be greater"):
        profiles.contact_fatigue("C1", days=0)
    with pytest.raises(BadRequest, match="name: give at least one"):
        profiles.search_profiles()
    with pytest.raises(BadRequest, match="reason: Missing data"):
        profiles.merge_customers("A", "B", by="x", reason=None)
    with pytest.raises(NotFound):
        profiles.get_profile("nobody")
    with pytest.raises(NotFound):
        profiles.erase_customer("nobody", by="dpo", request_ref="DSR-1")


def test_fatigue_search_segments_merge_export_and_erase_over_rpc(profiles):
    profiles.handle_feedback([event(1)])
    profiles.handle_feedback([event(2, cid="C2", at="2026-11-21T10:00:00+08:00")])
    fatigue = profiles.contact_fatigue("C1", days=7, limit=1, now=NOW)
    assert fatigue["contacts"] == 1 and fatigue["surveys"] == 1 and fatigue["fatigued"] is True
    assert fatigue["since"] == "2026-11-16T12:00:00+00:00"
    assert [r["_id"] for r in profiles.search_profiles(phone="+86 13800138000")] == ["C1", "C2"]
    assert [r["_id"] for r in profiles.list_segment("no_contact", days=3, now=NOW)] == ["C1"]
    out = profiles.merge_customers("C1", "C2", by="li.na", reason="same phone", now=NOW)
    assert out == {"survivor": "C1", "merged": "C2", "timeline_entries_moved": 1}
    dump = profiles.export_customer("C2")
    assert dump["customer_id"] == "C1" and dump["audit"][0]["at"] == NOW
    erased = profiles.erase_customer("C1", by="dpo", request_ref="DSR-1", now=NOW)
    assert erased["customer_id"] == "C1"
    assert "王芳" not in repr(profiles.export_customer("C1"))
