"""cases.metrics on a real store with a controlled clock: every figure of a known
set of cases checked exactly, overall and per team / level / touchpoint / owner."""

from datetime import timedelta

import pytest

from services.cases.backfill_tallies import backfill
from services.cases.metrics import tally
from services.common.errors import BadRequest
from tests.services.cases_desk import make_desk
from tests.services.test_cases import T0, alert


@pytest.fixture
def desk(mongo_client, db_prefix):
    # Monday 08:00 in Shanghai; no escalation policy (metrics only)
    return make_desk(mongo_client[f"{db_prefix}cases"], T0 - timedelta(hours=2), escalation=False)


def raise_(worker, customer, owner, level="P2", touchpoint="delivery"):
    a = alert(customer=customer, owner={"kind": "person", "id": owner}, touchpoint=touchpoint)
    a["level"] = level
    worker.handle_alert_raised([a])
    [case] = worker.list_cases(customer=customer)
    return case["_id"]


def at(worker, **delta):
    worker.now.at = T0 + timedelta(**delta)


def act(worker, method, case_id, **extra):
    return getattr(worker, method)({"case_id": case_id, "by": "li.na", **extra})


@pytest.fixture
def worked(desk):
    """Four cases opened in [T0-1h, T0+1h), one before and one after (Shanghai = T0 + 8 h)."""
    raise_(desk, "C-before", "li.na")  # 08:00, before the period
    at(desk)
    c1 = raise_(desk, "C1", "li.na")  # P2 10:00, cx-care
    at(desk, minutes=10)
    c2 = raise_(desk, "C2", "zhao.min", touchpoint="billing")  # P2 10:10, logistics
    at(desk, minutes=20)
    raise_(desk, "C3", "li.na", level="P1")  # P1 on 24x7: ack due 10:35, resolve due 14:20
    at(desk, minutes=40)
    raise_(desk, "C6", "ghost", level="P4", touchpoint=None)  # an owner in no team
    at(desk, minutes=30)
    act(desk, "acknowledge", c1)  # 30 min
    at(desk, minutes=100)
    act(desk, "acknowledge", c2)  # 90 min: 30 business minutes late
    at(desk, hours=2)
    act(desk, "resolve", c1, root_cause="other", first_contact_resolution=True)  # 2 h, first contact
    raise_(desk, "C-after", "li.na")  # after the period
    at(desk, hours=3, minutes=10)
    act(desk, "resolve", c2, root_cause="other", first_contact_resolution=False)  # 3 h
    at(desk, hours=4, minutes=10)
    act(desk, "reopen", c2, reason="客户再次投诉")  # fresh clocks; the missed ack stays counted
    at(desk, hours=5)
    return desk


PERIOD = {"since": (T0 - timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}


def m(cases, acked, resolved, mtta, mttr, breach_rate, ack_b, res_b, reopen, fcr, causes=None):
    return {
        "cases": cases,
        "acknowledged": acked,
        "resolved": resolved,
        "mtta_seconds": mtta,
        "mttr_seconds": mttr,
        "sla_breach_rate": breach_rate,
        "ack_breach": ack_b,
        "resolve_breach": res_b,
        "reopen_rate": reopen,
        "fcr_rate": fcr,
        "root_causes": causes or {},
        # no follow-up policy here: no follow-ups (tests/unit/test_followup.py has them)
        "followups": 0,
        "followups_answered": 0,
        "post_resolution_csat": None,
        "post_resolution_nps": None,
        "recovery_rate": None,
        "followup_on_time_rate": None,
    }


def test_overall_figures_count_cases_opened_in_the_period(worked):
    out = worked.metrics(PERIOD)
    assert out["since"] == PERIOD["since"] and out["until"] == PERIOD["until"]
    assert out["as_of"] == (T0 + timedelta(hours=5)).isoformat() and out["groups"] == []
    # C1 30 min / 2 h; C2 90 min / 3 h, ack missed, reopened; C3 (P1) both clocks overdue now
    # root causes: C1's; C2 was reopened after its resolution (none now)
    assert out["overall"] == m(4, 2, 2, 3600.0, 9000.0, 0.5, 2, 1, 0.5, 0.5, {"other": 1})


def test_figures_per_team_level_touchpoint_and_owner(worked):
    def groups(by):
        return {g.pop("key"): g for g in worked.metrics({**PERIOD, "group_by": by})["groups"]}

    care = m(2, 1, 1, 1800.0, 7200.0, 0.5, 1, 1, 0.0, 1.0, {"other": 1})
    logistics = m(1, 1, 1, 5400.0, 10800.0, 1.0, 1, 0, 1.0, 0.0)
    quiet = m(1, 0, 0, None, None, 0.0, 0, 0, None, None)
    assert groups("team") == {"cx-care": care, "logistics": logistics, None: quiet}
    assert list(groups("team")) == ["cx-care", "logistics", None]  # None last
    assert groups("owner") == {"li.na": care, "zhao.min": logistics, "ghost": quiet}
    assert groups("level") == {
        "P1": m(1, 0, 0, None, None, 1.0, 1, 1, None, None),
        "P2": m(2, 2, 2, 3600.0, 9000.0, 0.5, 1, 0, 0.5, 0.5, {"other": 1}),
        "P4": quiet,
    }
    assert groups("touchpoint") == {"delivery": care, "billing": logistics, None: quiet}


def test_several_groupings_from_one_read_and_one_owners_cases(worked):
    both = worked.metrics({**PERIOD, "group_by": "team", "also": ["touchpoint", "owner"]})
    assert both["groups"] == worked.metrics({**PERIOD, "group_by": "team"})["groups"]
    for by in ("touchpoint", "owner"):
        assert both["also"][by] == worked.metrics({**PERIOD, "group_by": by})["groups"]
    assert "also" not in worked.metrics({**PERIOD, "group_by": "team"})
    mine = worked.metrics({**PERIOD, "group_by": "owner", "assignee": "li.na"})
    li_na = m(2, 1, 1, 1800.0, 7200.0, 0.5, 1, 1, 0.0, 1.0, {"other": 1})
    assert mine["overall"] == li_na and mine["groups"] == [{"key": "li.na", **li_na}]
    with pytest.raises(BadRequest, match="also"):
        worked.metrics({**PERIOD, "also": ["customer"]})


def test_first_acknowledgement_survives_a_reassignment(worked):
    [c1] = worked.list_cases(customer="C1")
    act(worked, "reopen", c1["_id"], reason="again")
    worked.reassign(
        {"case_id": c1["_id"], "by": "lead", "assignee": {"kind": "person", "id": "emma.wu"}, "reason": "x"}
    )
    case = worked.get_case(c1["_id"])
    assert case["acknowledged"] is None  # the new owner acknowledges afresh ...
    assert case["milestones"]["acknowledged_at"] == T0.replace(minute=30).isoformat()  # ... the first stays
    assert worked.metrics({**PERIOD, "group_by": "team"})["overall"]["reopen_rate"] == 1.0


def test_until_defaults_to_now_and_bad_periods_name_the_field(worked):
    out = worked.metrics({"since": PERIOD["since"]})
    assert out["until"] == out["as_of"] and out["overall"]["cases"] == 5  # C-after opened at +2 h
    for request, field in (
        ({}, "since: Missing data"),
        ({"since": "yesterday"}, "since: Not a valid datetime"),
        ({"since": "2026-11-23T10:00:00"}, "since: Not a valid aware datetime"),
        ({**PERIOD, "until": PERIOD["since"]}, "until: must be after since"),
        ({**PERIOD, "group_by": "region"}, "group_by: Must be one of"),
        ({**PERIOD, "by": "team"}, "by: Unknown field"),
        ("30d", "request: must be an object"),
    ):
        with pytest.raises(BadRequest, match=field):
            worked.metrics(request)


def test_cases_stored_before_milestones_and_tallies_count_after_the_backfill(worked):
    db = worked.store.db
    [c1] = worked.list_cases(customer="C1")
    db.cases.update_one({"_id": c1["_id"]}, {"$unset": {"milestones": "", "tally": ""}})
    assert worked.metrics(PERIOD)["overall"]["cases"] == 3  # not counted until backfilled
    assert backfill(db) == {"cases": 1, "followups": 0, "collaborations": 0}
    assert backfill(db) == {"cases": 0, "followups": 0, "collaborations": 0}  # idempotent
    assert worked.metrics(PERIOD)["overall"] == m(4, 2, 2, 3600.0, 9000.0, 0.5, 2, 1, 0.5, 0.5, {"other": 1})
    grouped = worked.metrics({**PERIOD, "group_by": "owner", "also": ["team"]})
    backfill(db, everything=True)
    assert worked.metrics(PERIOD)["overall"] == m(4, 2, 2, 3600.0, 9000.0, 0.5, 2, 1, 0.5, 0.5, {"other": 1})
    for case in db.cases.find():  # every tally as its case says, its cell included
        assert case["tally"] == tally(case), case["_id"]
    assert worked.metrics({**PERIOD, "group_by": "owner", "also": ["team"]}) == grouped
