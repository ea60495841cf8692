"""The profile store on the real server: field rules, milestones, merge, fatigue, queries, erase."""

from datetime import UTC, datetime, timedelta

import eventlet
import pytest

from contracts.feedback import parse_feedback
from contracts.messages import CaseOpenedV1, CaseStatusChangedV1
from services.common.erasure import ERASED
from services.common.errors import BadRequest, NotFound
from services.profiles.identity import MergeRejected
from services.profiles.profile import timeline_entry
from services.profiles.store import ProfileStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def profiles(db):
    store = ProfileStore(db)
    store.ensure_indexes()
    return store


def feedback(n, cid="C1", channel="app", days_ago=1.0, scores=None, who=None, **more):
    at = NOW - timedelta(days=days_ago)
    body = {
        "schema_version": 1,
        "event_id": f"e{n}",
        "source": more.pop("source", "load"),
        "channel": channel,
        "occurred_at": at.isoformat(),
        "customer": {"id": cid, **(who or {})},
        "scores": scores if scores is not None else {"nps": n % 11},
        **more,
    }
    return parse_feedback(body)


def alert(n, customer="C1", rule="detractor", days_ago=1.0):
    return {
        "alert_id": f"A{n}",
        "raised_at": NOW - timedelta(days=days_ago),
        "level": "P2",
        "rule": {"id": rule, "version": 1, "name": "NPS 贬损者"},
        "customer": {"id": customer},
        "event": {"occurred_at": NOW - timedelta(days=days_ago + 0.01)},
    }


def case_opened(case_id="K1", customer="C1", days_ago=1.0, title="NPS 贬损者 · 王芳"):
    return CaseOpenedV1().load(
        {
            "schema_version": 1,
            "case_id": case_id,
            "alert_id": "A1",
            "opened_at": (NOW - timedelta(days=days_ago)).isoformat(),
            "level": "P2",
            "status": "open",
            "title": title,
            "customer": {"id": customer, "name": "王芳"},
            "rule": {"id": "detractor", "version": 1, "name": "NPS 贬损者"},
        }
    )


def status(case_id, frm, to, days_ago, customer="C1", **extra):
    return CaseStatusChangedV1().load(
        {
            "schema_version": 1,
            "case_id": case_id,
            "customer_id": customer,
            "level": "P2",
            "from_status": frm,
            "to_status": to,
            "changed_at": (NOW - timedelta(days=days_ago)).isoformat(),
            "changed_by": "li.na",
            **extra,
        }
    )


# -- rolling scores and contacts -------------------------------------------------


def test_rolling_scores_on_read_follow_the_clock_and_ignore_replays(profiles):
    events = [
        feedback(1, days_ago=50, scores={"nps": 9, "csat": 5}),
        feedback(2, days_ago=40, scores={"nps": 7}),
        feedback(3, days_ago=10, scores={"nps": 3, "ces": 6}),
        feedback(4, days_ago=2, scores={"nps": 2, "csat": 2}),
    ]
    for e in events + events:  # replayed
        profiles.recorder.record_feedback(e)
    s = profiles.queries.get_profile("C1", now=NOW)["scores"]
    assert s["nps"]["last"]["value"] == 2
    assert (s["nps"]["count_30d"], s["nps"]["avg_30d"]) == (2, 2.5)
    assert (s["nps"]["count_90d"], s["nps"]["avg_90d"]) == (4, 5.25)
    assert s["nps"]["trend"]["delta"] == -5.5 and s["nps"]["trend"]["direction"] == "down"
    assert s["csat"]["count_90d"] == 2 and s["csat"]["trend"]["direction"] == "down"
    assert s["ces"]["trend"] is None  # no earlier window to compare with
    # the same profile seen 30 days earlier: only the first two events existed
    earlier = profiles.queries.get_profile("C1", now=NOW - 30 * DAY)["scores"]
    assert earlier["nps"]["last"]["value"] == 7 and earlier["nps"]["count_30d"] == 2
    assert "ces" not in earlier


def test_contact_history_per_channel_by_event_time_not_arrival(profiles):
    profiles.recorder.record_feedback(feedback(1, channel="wechat", days_ago=1))
    profiles.recorder.record_feedback(feedback(2, channel="wechat", days_ago=5))  # arrives late, older
    profiles.recorder.record_feedback(feedback(3, channel="phone", days_ago=3))
    p = profiles.queries.get_profile("C1", now=NOW)
    assert p["contacts_by_channel"]["wechat"] == {"count": 2, "last_at": NOW - DAY}
    assert p["contacts_by_channel"]["phone"] == {"count": 1, "last_at": NOW - 3 * DAY}
    assert p["last_contact"]["channel"] == "wechat" and p["first_contact"]["at"] == NOW - 5 * DAY


def test_identity_latest_wins_and_search_keys_follow(profiles):
    profiles.recorder.record_feedback(feedback(1, days_ago=1, who={"name": "王芳", "phone": "13800138000"}))
    profiles.recorder.record_feedback(feedback(2, days_ago=9, who={"name": "旧名", "phone": "13900000000"}))
    p = profiles.queries.get_profile("C1")
    assert p["identity"] == {"name": "王芳", "phone": "13800138000"}
    assert [r["_id"] for r in profiles.queries.search(phone="+86 138-0013-8000")] == ["C1"]
    assert profiles.queries.search(phone="13900000000") == []


# -- case milestones -------------------------------------------------------------------


def test_case_milestones_move_the_open_list_and_replays_change_nothing(profiles):
    profiles.recorder.record_case_opened(case_opened(days_ago=5))
    steps = [
        status("K1", "open", "assigned", 4.9),
        status(
            "K1",
            "assigned",
            "resolved",
            4,
            resolution={"root_cause": "logistics", "first_contact_resolution": True},
        ),
    ]
    for s in steps + steps:
        profiles.recorder.record_case_status(s)
    p = profiles.queries.get_profile("C1")
    assert p["open_cases"] == []
    kinds = [(e["kind"], e.get("to_status")) for e in p["timeline"]]
    assert kinds == [("case_milestone", "resolved"), ("case_milestone", "assigned"), ("case_opened", None)]
    assert p["timeline"][0]["resolution"]["root_cause"] == "logistics"
    profiles.recorder.record_case_status(status("K1", "resolved", "reopened", 2))
    [case] = profiles.queries.get_profile("C1")["open_cases"]
    assert case["status"] == "reopened" and case["title"] == "NPS 贬损者 · 王芳"
    assert case["opened_at"] == NOW - 5 * DAY


def test_case_milestones_out_of_order_end_in_the_newest_state(profiles):
    # closed arrives before the older "reopened", and before case_opened itself
    profiles.recorder.record_case_status(status("K1", "reopened", "closed", 1))
    profiles.recorder.record_case_status(status("K1", "resolved", "reopened", 2))
    profiles.recorder.record_case_opened(case_opened(days_ago=5))
    p = profiles.queries.get_profile("C1")
    assert p["open_cases"] == []
    assert len([e for e in p["timeline"] if e["kind"] == "case_milestone"]) == 2


def test_first_assignment_stamped_with_the_opening_instant_wins_in_either_order(profiles):
    """cases stamps a case's opening and its first assignment with one instant."""
    for order in ("milestone_first", "opened_first"):
        profiles.db.profiles.delete_many({})
        opened = case_opened(days_ago=5)
        assigned = status("K1", "open", "assigned", 5)  # the same instant as the opening
        steps = [
            (profiles.recorder.record_case_status, assigned),
            (profiles.recorder.record_case_opened, opened),
        ]
        for record, message in steps if order == "milestone_first" else steps[::-1]:
            record(message)
        [case] = profiles.queries.get_profile("C1")["open_cases"]
        assert case["status"] == "assigned", order


# -- identity merge ---------------------------------------------------------------------


def seed_two(profiles):
    profiles.recorder.record_feedback(
        feedback(1, "A", "app", 40, {"nps": 9}, who={"name": "王芳", "tier": "vip"})
    )
    profiles.recorder.record_feedback(
        feedback(2, "B", "wechat", 2, {"nps": 2}, who={"name": "王芳芳", "email": "w@x.cn"})
    )
    profiles.recorder.record_feedback(feedback(3, "B", "wechat", 60, {"csat": 4}))
    profiles.recorder.record_alert(alert(1, "B"))
    profiles.recorder.record_case_opened(case_opened("KB", "B", 2))


def test_merge_carries_the_whole_history_and_is_audited(profiles):
    seed_two(profiles)
    out = profiles.identity.merge("A", "B", by="li.na", reason="same phone", now=NOW)
    assert out["timeline_entries_moved"] == 4
    p = profiles.queries.get_profile("A", now=NOW, timeline_limit=10)
    assert p["feedback_count"] == 3 and p["channels"] == {"app": 1, "wechat": 2}
    assert p["alert_counts"] == {"detractor": 1} and p["alerts_total"] == 1
    assert [c["case_id"] for c in p["open_cases"]] == ["KB"]
    assert p["identity"]["name"] == "王芳芳" and p["identity"]["email"] == "w@x.cn"  # B is newer
    assert p["identity"]["tier"] == "vip"  # a gap filled from A
    assert p["latest"]["nps"]["value"] == 2 and p["first_contact"]["at"] == NOW - 60 * DAY
    assert p["scores"]["nps"]["trend"]["delta"] == -7.0
    assert p["merged_ids"] == ["B"] and len(p["timeline"]) == 5
    assert profiles.queries.get_profile("B")["_id"] == "A"  # the merged id shows the survivor
    [audit] = profiles.privacy.export("A")["audit"]
    assert audit["by"] == "li.na" and audit["reason"] == "same phone" and audit["merged"] == "B"
    # later events for B land on A
    profiles.recorder.record_feedback(feedback(9, "B", "sms", 0.5, {"nps": 10}))
    profiles.recorder.record_case_status(status("KB", "open", "closed", 0.4, customer="B"))
    p = profiles.queries.get_profile("A", now=NOW)
    assert p["feedback_count"] == 4 and p["channels"]["sms"] == 1 and p["open_cases"] == []
    assert profiles.db.profiles.find_one({"_id": "B"}) is None


def test_merge_is_idempotent_and_finishes_after_a_crash_part_way(profiles):
    seed_two(profiles)
    # a crash after the alias was written, before anything moved
    profiles.db.aliases.insert_one({"_id": "B", "survivor": "A", "state": "moving", "by": "li.na", "at": NOW})
    profiles.identity.merge("A", "B", by="li.na", reason="retry", now=NOW)
    again = profiles.identity.merge("A", "B", by="li.na", reason="retry", now=NOW)
    assert again["timeline_entries_moved"] == 0
    p = profiles.queries.get_profile("A")
    assert p["feedback_count"] == 3 and p["alerts_total"] == 1
    assert profiles.db.aliases.find_one({"_id": "B"})["state"] == "done"
    assert len(profiles.privacy.export("A")["audit"]) == 1


def test_a_merge_that_crashed_after_moving_the_timeline_finishes_on_retry(profiles):
    seed_two(profiles)
    profiles.db.aliases.insert_one({"_id": "B", "survivor": "A", "state": "moving", "by": "li.na", "at": NOW})
    profiles.db.timeline.update_many({"customer_id": "B"}, {"$set": {"customer_id": "A"}})
    # meanwhile an event for B arrives: the alias sends it to A
    profiles.recorder.record_feedback(feedback(7, "B", "sms", 0.1, {"nps": 10}))
    assert profiles.db.timeline.find_one({"_id": "feedback:load:e7"})["customer_id"] == "A"
    assert (
        profiles.identity.merge("A", "B", by="li.na", reason="retry", now=NOW)["timeline_entries_moved"] == 0
    )
    assert profiles.db.profiles.find_one({"_id": "B"}) is None
    p = profiles.queries.get_profile("A")
    assert p["feedback_count"] == 4 and p["channels"] == {"app": 1, "wechat": 2, "sms": 1}
    assert p["identity"]["email"] == "w@x.cn" and [c["case_id"] for c in p["open_cases"]] == ["KB"]
    assert p["latest"]["nps"]["value"] == 10


def test_merge_cycles_and_conflicts_are_rejected(profiles):
    seed_two(profiles)
    profiles.recorder.record_feedback(feedback(5, "C"))
    profiles.identity.merge("A", "B", by="x", reason="r", now=NOW)
    with pytest.raises(MergeRejected, match="survivor: B was merged into A"):
        profiles.identity.merge("B", "A", by="x", reason="r", now=NOW)
    with pytest.raises(MergeRejected, match="merged: B was already merged into A"):
        profiles.identity.merge("C", "B", by="x", reason="r", now=NOW)
    with pytest.raises(MergeRejected, match="merged: must differ"):
        profiles.identity.merge("A", "A", by="x", reason="r", now=NOW)
    with pytest.raises(NotFound):
        profiles.identity.merge("A", "nobody", by="x", reason="r", now=NOW)
    # a chain: A into C, and B (already on A) follows
    profiles.identity.merge("C", "A", by="x", reason="r", now=NOW)
    assert profiles.identity.resolve("B") == "C" and profiles.queries.get_profile("C")["feedback_count"] == 4


def test_events_arriving_during_a_merge_all_land_on_the_survivor(profiles):
    profiles.recorder.record_feedback(feedback(0, "A"))
    profiles.recorder.record_feedback(feedback(1000, "B"))
    events = [feedback(n, ("A", "B")[n % 2], ("app", "web")[n % 2], days_ago=n / 10) for n in range(1, 81)]
    pool = eventlet.GreenPool(8)
    for i, e in enumerate(events):
        pool.spawn(profiles.recorder.record_feedback, e)
        if i == 30:
            pool.spawn(profiles.identity.merge, "A", "B", by="x", reason="r", now=NOW)
    pool.waitall()
    p = profiles.queries.get_profile("A", timeline_limit=500)
    assert p["feedback_count"] == 82 and len(p["timeline"]) == 82
    assert profiles.db.timeline.count_documents({"customer_id": "B"}) == 0
    assert profiles.db.profiles.find_one({"_id": "B"}) is None


# -- fatigue ----------------------------------------------------------------------------


def test_contact_fatigue_counts_feedback_and_surveys_in_the_window(profiles):
    profiles.recorder.record_feedback(feedback(1, days_ago=1, attributes={"survey_id": "NPS-1"}))
    profiles.recorder.record_feedback(feedback(2, days_ago=3, channel="wechat"))
    profiles.recorder.record_feedback(feedback(3, days_ago=20, tags=["survey"]))
    profiles.recorder.record_feedback(feedback(4, days_ago=40))
    week = profiles.queries.contact_fatigue("C1", 7, NOW)
    assert (week["contacts"], week["surveys"]) == (2, 1)
    assert week["by_channel"] == {"app": 1, "wechat": 1} and week["last_contact_at"] == NOW - DAY
    month = profiles.queries.contact_fatigue("C1", 30, NOW)
    assert (month["contacts"], month["surveys"]) == (3, 2)
    assert profiles.queries.contact_fatigue("nobody", 30, NOW)["contacts"] == 0


# -- queries ----------------------------------------------------------------------------


def test_search_normalises_phone_and_email_and_pages(profiles):
    for n, (phone, email) in enumerate([("+86 138-0013-8000", "Wang@Example.com "), ("13900001111", None)]):
        who = {"name": f"王 芳{n}", "phone": phone, **({"email": email} if email else {})}
        profiles.recorder.record_feedback(feedback(n, f"C{n}", who=who))
    assert [r["_id"] for r in profiles.queries.search(phone="13800138000")] == ["C0"]
    assert [r["_id"] for r in profiles.queries.search(phone="0086 138 0013 8000")] == ["C0"]
    assert [r["_id"] for r in profiles.queries.search(email=" WANG@example.COM")] == ["C0"]
    assert [r["_id"] for r in profiles.queries.search(name="王 芳")] == ["C0", "C1"]
    assert [r["_id"] for r in profiles.queries.search(name="王 芳", limit=1, skip=1)] == ["C1"]
    assert profiles.queries.search(name=".*") == []  # regex characters are literal
    with pytest.raises(BadRequest):
        profiles.queries.search()


def test_segments(profiles):
    # D: detractor with an open case; E: detractor whose case was closed
    profiles.recorder.record_feedback(feedback(1, "D", scores={"nps": 3}))
    profiles.recorder.record_case_opened(case_opened("KD", "D"))
    profiles.recorder.record_feedback(feedback(2, "E", scores={"nps": 1}))
    profiles.recorder.record_case_opened(case_opened("KE", "E"))
    profiles.recorder.record_case_status(status("KE", "open", "closed", 0.5, customer="E"))
    # V: a VIP whose NPS went 9 → 5; W: a VIP holding steady; S: standard, dropped
    for cid, tier, before, after in (("V", "vip", 9, 5), ("W", "vip", 8, 8), ("S", "standard", 10, 0)):
        profiles.recorder.record_feedback(
            feedback(10, cid, days_ago=45, scores={"nps": before}, who={"tier": tier})
        )
        profiles.recorder.record_feedback(
            feedback(11, cid, days_ago=5, scores={"nps": after}, who={"tier": tier})
        )
    # Q: quiet for 100 days
    profiles.recorder.record_feedback(feedback(20, "Q", days_ago=100))
    assert [r["_id"] for r in profiles.queries.segment_detractors_with_open_case(50, 0)] == ["D"]
    [v] = profiles.queries.segment_nps_drop("vip", 3, NOW, 50, 0)
    assert v["_id"] == "V" and v["nps_trend"]["delta"] == -4.0
    assert profiles.queries.segment_nps_drop("vip", 5, NOW, 50, 0) == []
    assert [r["_id"] for r in profiles.queries.segment_no_contact(60, NOW, 50, 0)] == ["Q"]
    assert [r["_id"] for r in profiles.queries.segment_no_contact(3, NOW, 2, 0)] == ["Q", "S"]
    assert [r["_id"] for r in profiles.queries.segment_no_contact(3, NOW, 2, 2)] == ["V", "W"]


# -- export and erase -----------------------------------------------------------------------


def test_export_holds_profile_timeline_aliases_and_audit(profiles):
    seed_two(profiles)
    profiles.identity.merge("A", "B", by="li.na", reason="same person", now=NOW)
    out = profiles.privacy.export("B")
    assert out["customer_id"] == "A" and out["aliases"] == {"merged_into": "A", "merged_ids": ["B"]}
    assert len(out["timeline"]) == 5 and out["profile"]["feedback_count"] == 3
    assert out["timeline"] == sorted(out["timeline"], key=lambda e: e["at"])
    assert [a["kind"] for a in out["audit"]] == ["merge"] and out["erasure"] is None
    with pytest.raises(NotFound):
        profiles.privacy.export("nobody")


def test_erase_removes_personal_data_everywhere_and_later_events_stay_anonymous(profiles):
    who = {
        "name": "王芳",
        "phone": "13800138000",
        "email": "w@x.cn",
        "tier": "vip",
        "attributes": {"city": "杭州"},
    }
    profiles.recorder.record_feedback(feedback(1, who=who, text="我是王芳 13800138000", tags=["x"]))
    profiles.recorder.record_case_opened(case_opened())
    profiles.recorder.record_case_status(status("K1", "open", "assigned", 0.9, reason="王芳 来电"))
    profiles.record_dead_letter(
        "cx.feedback.profiles", "bad", 1, b'{"customer": {"id": "C1", "name": "\xe7\x8e\x8b"}}'
    )
    out = profiles.privacy.erase("C1", by="dpo", request_ref="DSR-7", now=NOW)
    assert out["timeline_entries_scrubbed"] == 2 and out["dead_letters_scrubbed"] == 1
    profiles.privacy.erase("C1", by="dpo", request_ref="DSR-7", now=NOW)  # idempotent
    profiles.recorder.record_feedback(feedback(2, who=who, text="王芳又来了"))  # a later event
    dump = repr(profiles.privacy.export("C1")) + repr(list(profiles.db.dead_letters.find()))
    for pii in ("王芳", "13800138000", "w@x.cn", "杭州"):
        assert pii not in dump
    p = profiles.queries.get_profile("C1")
    assert p["erased"] is True and p["identity"] == {"tier": "vip"} and p["feedback_count"] == 2
    assert p["open_cases"][0]["title"] == ERASED
    assert profiles.queries.search(phone="13800138000") == []
    assert [
        e.get("pii_dropped") for e in profiles.privacy.export("C1")["timeline"] if e["kind"] == "feedback"
    ] == [
        None,
        True,
    ]
    [audit] = profiles.privacy.export("C1")["audit"]
    assert audit == {
        "_id": "erase:C1",
        "kind": "erase",
        "customer_ids": ["C1"],
        "by": "dpo",
        "request_ref": "DSR-7",
        "at": NOW,
    }


def test_merging_into_an_erased_survivor_brings_no_personal_data(profiles):
    seed_two(profiles)
    profiles.privacy.erase("A", by="dpo", request_ref="DSR-8", now=NOW)
    profiles.identity.merge("A", "B", by="li.na", reason="same person", now=NOW)
    dump = repr(profiles.privacy.export("A"))
    assert "王芳" not in dump and "w@x.cn" not in dump
    assert profiles.queries.get_profile("A")["feedback_count"] == 3


def test_guarded_fields_of_many_customers_stay_on_their_own_profiles(profiles):
    """The sample stream found guarded updates landing on the wrong profile; never again."""
    for n in range(6):
        cid, channel = f"M{n % 3}", ("app", "web")[n % 2]
        profiles.recorder.record_feedback(feedback(n, cid, channel, days_ago=n, who={"name": f"n{cid}"}))
        profiles.recorder.record_case_opened(case_opened(f"K{n}", cid, days_ago=n))
    for cid in ("M0", "M1", "M2"):
        p = profiles.queries.get_profile(cid)
        mine = [e for e in profiles.privacy.export(cid)["timeline"] if e["kind"] == "feedback"]
        assert p["identity"]["name"] == f"n{cid}"
        assert set(p["channel_last"]) == {e["channel"] for e in mine}
        assert p["last_contact"]["event_id"] == max(mine, key=lambda e: e["at"])["event_id"]
        assert sorted(c["case_id"] for c in p["open_cases"]) == [
            f"K{n}" for n in range(6) if f"M{n % 3}" == cid
        ]


def test_a_status_change_arriving_before_the_opening_gets_the_title_when_it_arrives(profiles):
    """cases announces the opening and the first assignment at once, on two queues."""
    profiles.recorder.record_case_status(status("K1", "open", "assigned", 4.9))
    [listed] = profiles.queries.get_profile("C1")["open_cases"]
    assert listed["title"] is None and listed["status"] == "assigned"
    profiles.recorder.record_case_opened(case_opened(days_ago=5))
    [listed] = profiles.queries.get_profile("C1")["open_cases"]
    assert listed["title"] == "NPS 贬损者 · 王芳" and listed["opened_at"] == NOW - 5 * DAY
    assert listed["status"] == "assigned"  # the opening never replaces a newer status


def test_an_entry_a_racing_write_left_with_personal_data_is_stripped_by_its_redelivery(profiles):
    """The write read the profile before the erasure and filed its entry after the scrub."""
    profiles.recorder.record_feedback(feedback(1, who={"name": "王芳"}, text="我是王芳"))
    profiles.privacy.erase("C1", by="dpo", request_ref="DSR-9", now=NOW)
    late = feedback(2, who={"name": "王芳"}, text="王芳又来了")
    profiles.db.timeline.insert_one(timeline_entry(late, "C1"))  # then the worker died
    profiles.recorder.record_feedback(late)  # its redelivery
    assert "王芳" not in repr(profiles.privacy.export("C1"))
    assert profiles.queries.get_profile("C1")["feedback_count"] == 2
