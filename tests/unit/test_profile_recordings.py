"""What each event records on a profile (services/profiles/recordings.py), without a store;
and the pure helpers of the profile store's parts: the revision condition, counters from
a timeline, a batch's word-count documents."""

from datetime import timedelta

from pymongo import MongoClient

from services.common.erasure import ERASED
from services.common.mongo import MongoStore
from services.profiles.dependencies import ProfileStores
from services.profiles.documents import revise
from services.profiles.profile import new_profile
from services.profiles.recorder import counters_of
from services.profiles.recordings import (
    alert_recording,
    case_opened_recording,
    case_status_recording,
    feedback_recording,
    milestone_entry,
    profile_updated,
)
from services.profiles.store import ProfileStore
from services.profiles.words import EVERYONE, customer_doc_id, day_groups, local_day, shard_doc_id
from tests.store.test_profiles import NOW, alert, case_opened, feedback, status


def no_lookup(case_id):
    raise AssertionError(f"the profile knows case {case_id}: no timeline read")


def assigned_at_opening(case_id="K1", days_ago=2.0):
    opened = case_opened(case_id, "C1", days_ago=days_ago)
    opened.update(
        status="assigned",
        assignment={
            "assignee": {"kind": "person", "id": "li.na"},
            "at": opened["opened_at"],
            "by": "system",
            "reason": "owner",
        },
    )
    return opened


# -- feedback and alerts ---------------------------------------------------------------


def test_feedback_lands_on_the_target_and_an_erased_one_keeps_no_personal_data():
    event = feedback(1, "OLD", who={"name": "王芳", "phone": "13800138000"}, text="快递太慢")
    recording = feedback_recording(event)
    assert recording.customer_id == "OLD"
    entry = recording.entry_for("NEW", False)  # OLD was merged into NEW
    assert (entry["customer_id"], entry["as_customer_id"], entry["text"]) == ("NEW", "OLD", "快递太慢")
    stripped = recording.entry_for("NEW", True)
    assert "text" not in stripped and stripped["pii_dropped"] is True
    doc = new_profile("NEW", NOW)
    assert recording.change(doc, True, NOW) is True
    assert doc["feedback_count"] == 1 and "name" not in (doc.get("identity") or {})
    assert recording.also("NEW", False) == []


def test_an_event_applied_twice_counts_once():
    doc = new_profile("C1", NOW)
    for recording in (feedback_recording(feedback(1)), alert_recording(alert(1))):
        assert recording.change(doc, False, NOW) is True
        assert recording.change(doc, False, NOW) is False
    assert (doc["feedback_count"], doc["alerts_total"], doc["alert_counts"]) == (1, 1, {"detractor": 1})


def test_an_alert_sits_at_the_feedback_it_is_about_not_at_its_raising():
    raised = alert(7, "C1", rule="refund", days_ago=1)
    entry = alert_recording(raised).entry_for("C1", False)
    assert entry["_id"] == "alert:A7" and entry["rule_id"] == "refund"
    assert entry["at"] == raised["event"]["occurred_at"] and entry["at"] < entry["raised_at"]


def test_profile_updated_names_the_event_and_the_latest_scores():
    event = feedback(3, "C1", scores={"nps": 4, "csat": 2})
    doc = new_profile("C1", NOW)
    feedback_recording(event).change(doc, False, NOW)
    out = profile_updated(event, doc, NOW)
    assert out == {
        "customer_id": "C1",
        "cause": {"kind": "feedback", "key": "feedback:load:e3"},
        "updated_at": NOW,
        "feedback_count": 1,
        "latest_scores": {"nps": 4, "csat": 2},
    }


# -- cases -------------------------------------------------------------------------------


def test_one_milestone_id_per_move_and_an_erased_customer_keeps_no_reason():
    at = NOW - timedelta(days=1)
    kept = milestone_entry(
        "C1", False, "K1", "P2", ("open", "assigned"), at, "li.na", reason="owner", resolution=None
    )
    dropped = milestone_entry("C1", True, "K1", "P2", ("open", "assigned"), at, "li.na", reason="owner")
    assert kept["_id"] == dropped["_id"] == f"case:K1:status:{at.isoformat()}:open>assigned"
    assert kept["reason"] == "owner" and "resolution" not in kept
    assert "reason" not in dropped


def test_a_case_opened_unassigned_has_no_milestone_and_an_erased_title():
    recording = case_opened_recording(case_opened("K1", "C1"))
    assert recording.also("C1", False) == []
    assert recording.entry_for("C1", True)["title"] == ERASED
    doc = new_profile("C1", NOW)
    assert recording.change(doc, True, NOW) is True
    assert doc["open_cases"]["K1"]["title"] == ERASED and doc["open_cases"]["K1"]["status"] == "open"


def test_a_case_opened_already_assigned_carries_the_same_milestone_as_the_status_change():
    opened = assigned_at_opening()
    [milestone] = case_opened_recording(opened).also("C1", False)
    move = status("K1", "open", "assigned", 2, reason="owner")
    move["changed_by"] = "system"
    assert milestone == case_status_recording(move, no_lookup).entry_for("C1", False)
    doc = new_profile("C1", NOW)
    case_opened_recording(opened).change(doc, False, NOW)
    assert doc["open_cases"]["K1"]["status"] == "assigned"


def test_the_newest_status_wins_and_closing_unlists_the_case():
    doc = new_profile("C1", NOW)
    case_opened_recording(case_opened("K1", "C1", days_ago=3)).change(doc, False, NOW)
    resolved = case_status_recording(status("K1", "assigned", "resolved", 1), no_lookup)
    assert resolved.change(doc, False, NOW) is True and doc["open_cases"] == {}
    older = case_status_recording(status("K1", "open", "assigned", 2), no_lookup)
    assert older.change(doc, False, NOW) is False and doc["open_cases"] == {}
    reopened = case_status_recording(status("K1", "resolved", "reopened", 0.5), no_lookup)
    assert reopened.change(doc, False, NOW) is True
    assert doc["open_cases"]["K1"]["title"] == "NPS 贬损者 · 王芳"  # from the profile, no lookup


def test_a_profile_that_does_not_know_the_case_reads_its_opening_entry():
    asked = []

    def opened_entry(case_id):
        asked.append(case_id)
        return {"title": "退款 · 王芳", "at": NOW - timedelta(days=4)}

    doc = new_profile("C1", NOW)
    doc.pop("case_info_complete", None)  # written before case facts were kept on the profile
    case_status_recording(status("K9", "open", "assigned", 1), opened_entry).change(doc, False, NOW)
    assert asked == ["K9"]
    assert doc["open_cases"]["K9"]["title"] == "退款 · 王芳"
    assert doc["open_cases"]["K9"]["opened_at"] == NOW - timedelta(days=4)


# -- store helpers -------------------------------------------------------------------------


def test_revise_inserts_a_new_profile_and_conditions_a_replace_on_the_revision_read():
    fresh = {"_id": "C1"}
    assert revise(None, fresh) is None and fresh["rev"] == 1
    after = {"_id": "C1"}
    assert revise({"_id": "C1", "rev": 3}, after) == {"_id": "C1", "rev": 3} and after["rev"] == 4
    legacy = {"_id": "C1"}  # written before revisions
    assert revise({"_id": "C1"}, legacy) == {"_id": "C1", "rev": {"$exists": False}} and legacy["rev"] == 1


def test_counters_of_a_timeline():
    entries = [
        {"kind": "feedback", "channel": "app", "insight": {"aspects": ["delivery", "price"]}},
        {"kind": "feedback", "channel": "app", "text": "价格太贵了"},  # recorded before aspects were kept
        {"kind": "feedback", "channel": "we.chat", "insight": {"aspects": []}, "text": "价格太贵了"},
        {"kind": "alert", "rule_id": "refund.keyword"},
    ]
    assert counters_of(entries) == {
        "feedback_count": 3,
        "channels": {"app": 2, "we_chat": 1},
        "aspect_counts": {"delivery": 1, "price": 2},
        "alerts_total": 1,
        "alert_counts": {"refund_keyword": 1},
    }


def test_a_batch_counts_each_event_once_in_its_customers_day_and_a_shard():
    commented = feedback_recording(feedback(1, "C1", text="快递太慢，客服态度差")).entry_for("C1", False)
    silent = feedback_recording(feedback(2, "C1")).entry_for("C1", False)
    assert commented.get("insight") and not silent.get("insight")
    groups = day_groups([("C1", commented), ("C1", silent), ("C1", commented)])  # a repeat in the batch
    day = local_day(commented["at"])
    mine, shared = customer_doc_id("C1", day), shard_doc_id(day, commented["_id"])
    assert set(groups) == {mine, shared}
    assert groups[mine]["scope"] == "C1" and groups[shared]["scope"] == EVERYONE
    assert all(len(g["events"]) == 1 and g["day"] == day for g in groups.values())


# -- the provider --------------------------------------------------------------------------


def test_the_provider_hands_out_one_store_whose_parts_share_its_database():
    provider = ProfileStores()
    assert isinstance(provider, MongoStore)  # health checks and dead-letter counts find it
    assert provider.store_cls is ProfileStore
    db = MongoClient("mongodb://127.0.0.1:1", connect=False)["p"]  # never contacted
    store = ProfileStore(db)
    parts = (store.recorder, store.identity, store.privacy, store.queries)
    assert all(part.db is db for part in parts)
    assert store.identity.privacy is store.privacy  # a merge into an erased survivor scrubs through it
