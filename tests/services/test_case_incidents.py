"""Incidents in the cases service (worker_factory, real store): a group alert opens one
incident that links the open customer cases of its group and later ones, announces no
customer-case messages, and resolving it with its children resolves each through the
normal resolve path, idempotently."""

import eventlet
import pytest
from nameko.testing.services import worker_factory

from services.cases import incidents, intake
from services.cases.service import CasesService
from services.cases.store import CaseStore
from services.common.errors import BadRequest
from tests.services.group_alerts import T0, customer_alert, group_alert
from tests.services.test_cases import Clock, moves, sent

RESOLVE = {"root_cause": "service_attitude", "first_contact_resolution": False, "summary": "门店加开收银台"}


@pytest.fixture
def cases(mongo_client, db_prefix):
    store = CaseStore(mongo_client[f"{db_prefix}cases"])
    store.ensure_indexes()
    worker = worker_factory(CasesService, store=store)
    worker.now = Clock(T0)
    return worker


def by_customer(cases):
    return {c["customer"]["id"]: c for c in cases.list_cases(limit=200) if c.get("kind") != "incident"}


def test_group_alert_links_existing_and_new_matching_cases_not_others(cases):
    cases.handle_alert_raised([customer_alert(n) for n in (1, 2, 3)])
    cases.handle_alert_raised([customer_alert(4, store="BJ-007")])  # another store
    cases.handle_alert_raised([customer_alert(5, store=None)])  # no store attribute at all
    cases.handle_alert_raised([group_alert(50)])
    [incident] = cases.list_incidents()
    assert incident["level"] == "P1" and incident["assignee"] == {"kind": "person", "id": "zhao.min"}
    assert incident["title"] == "门店 NPS 骤降 · attributes.store=SH-021"
    assert incident["child_counts"]["total"] == 3 and incident["child_counts"]["active"] == 3
    # later cases attach while it is open: in the same batch as a non-matching one
    cases.now.advance(minutes=5)
    cases.handle_alert_raised([customer_alert(6), customer_alert(7, store="BJ-007")])
    children = by_customer(cases)
    linked = sorted(c for c, case in children.items() if case.get("parent_id") == incident["_id"])
    assert linked == ["C0001", "C0002", "C0003", "C0006"]
    assert children["C0004"]["parent_id"] is None and children["C0007"]["parent_id"] is None
    assert children["C0005"]["parent_id"] is None

    shown = cases.get_case(incident["_id"])
    assert sorted(c["customer"]["id"] for c in shown["children"]) == linked
    assert shown["child_counts"]["total"] == 4
    child = cases.get_case(children["C0006"]["_id"])
    assert child["parent"]["_id"] == incident["_id"] and child["parent"]["level"] == "P1"
    assert "linked_to_incident" in [a["action"] for a in child["audit"]]
    # an incident is nobody's customer case: no case_opened / case_assigned for it
    assert incident["_id"] not in [m["case_id"] for m in sent(cases, "case_opened")]
    assert incident["_id"] not in [m["case_id"] for m in sent(cases, "case_assigned")]
    # its owner is told, as for any case
    told = [m for m in sent(cases, "notification_requested") if m["case_id"] == incident["_id"]]
    assert [(m["kind"], m["recipient"]["id"], m["level"]) for m in told] == [
        ("case_assigned", "zhao.min", "P1")
    ]


def test_the_same_group_alert_again_and_a_second_one_keep_one_incident(cases):
    cases.handle_alert_raised([customer_alert(1)])
    cases.handle_alert_raised([group_alert(50)])
    cases.handle_alert_raised([group_alert(50)])  # redelivered (the inbox takes it once)
    intake.take_in_batch(cases.context(), [group_alert(50)])  # past the inbox: a retry after a crash
    intake.take_in_batch(cases.context(), [group_alert(80)])  # a later alert on the same store
    [incident] = cases.list_incidents()
    assert len(cases.get_case(incident["_id"])["alerts"]) == 2
    assert incident["child_counts"]["total"] == 1
    assert len([a for a in cases.get_case(incident["_id"])["audit"] if a["action"] == "children_linked"]) == 1
    [attached] = [a for a in cases.get_case(incident["_id"])["audit"] if a["action"] == "alert_attached"]
    assert attached["why"].endswith("for the same group")


def test_resolving_with_children_resolves_each_through_the_resolve_path(cases):
    cases.handle_alert_raised([customer_alert(n) for n in (1, 2, 3)])
    cases.handle_alert_raised([group_alert(50)])
    [incident] = cases.list_incidents()
    kids = by_customer(cases)
    cases.start({"case_id": kids["C0002"]["_id"], "by": "li.na"})
    cases.resolve({"case_id": kids["C0003"]["_id"], "by": "li.na", **RESOLVE})  # resolved on its own
    with pytest.raises(BadRequest, match="is an incident; resolve it with resolve_incident"):
        cases.resolve({"case_id": incident["_id"], "by": "zhao.min", **RESOLVE})
    before = len(sent(cases, "case_status_changed"))

    request = {"case_id": incident["_id"], "by": "zhao.min", "resolve_children": True, **RESOLVE}
    result = cases.resolve_incident(request)
    assert result["incident"]["status"] == "resolved"
    assert result["incident"]["children_resolution"]["state"] == "done"
    assert sorted(result["children"]["resolved"]) == sorted([kids["C0001"]["_id"], kids["C0002"]["_id"]])
    for cid in (kids["C0001"]["_id"], kids["C0002"]["_id"]):
        child = cases.get_case(cid)
        assert child["status"] == "resolved"
        assert child["resolution"] == {**RESOLVE, "first_contact_resolution": False}
        [entry] = [a for a in child["audit"] if a["action"] == "resolved"]
        assert entry["actor"] == "zhao.min" and entry["why"] == f"resolved with incident {incident['_id']}"
    # the children's status messages, as for any resolve; none for the incident
    changed = sent(cases, "case_status_changed")[before:]
    assert sorted((m["case_id"], m["to_status"]) for m in changed) == sorted(
        [(kids["C0001"]["_id"], "resolved"), (kids["C0002"]["_id"], "resolved")]
    )
    assert all(m["resolution"]["root_cause"] == "service_attitude" for m in changed)
    # again: nothing more happens
    again = cases.resolve_incident(request)
    assert again["children"] == {"resolved": [], "already": [], "failed": []}
    assert len(sent(cases, "case_status_changed")) == before + 2
    assert cases.list_incidents(status="active") == []
    # a new alert of the store opens a customer case with no parent (the incident is resolved)
    cases.handle_alert_raised([customer_alert(9)])
    assert by_customer(cases)["C0009"]["parent_id"] is None


def test_an_unassigned_child_is_assigned_to_the_resolver_then_resolved(cases):
    strategy_alert = customer_alert(1)
    strategy_alert["owner"] = {"kind": "strategy", "id": "nobody-knows"}  # stays unassigned
    cases.handle_alert_raised([strategy_alert])
    cases.handle_alert_raised([group_alert(50)])
    [incident] = cases.list_incidents()
    [child] = by_customer(cases).values()
    assert child["status"] == "open" and child["parent_id"] == incident["_id"]
    cases.resolve_incident(
        {"case_id": incident["_id"], "by": "zhao.min", "resolve_children": True, **RESOLVE}
    )
    shown = cases.get_case(child["_id"])
    assert shown["status"] == "resolved" and shown["assignee"] == {"kind": "person", "id": "zhao.min"}
    assert ("open", "assigned") in moves(cases) and ("assigned", "resolved") in moves(cases)


def test_resolving_without_children_then_with_them_later(cases):
    cases.handle_alert_raised([customer_alert(1)])
    cases.handle_alert_raised([group_alert(50)])
    [incident] = cases.list_incidents()
    first = cases.resolve_incident({"case_id": incident["_id"], "by": "zhao.min", **RESOLVE})
    assert first["children"]["resolved"] == [] and first["incident"]["children_resolution"]["state"] == "none"
    [child] = by_customer(cases).values()
    assert cases.get_case(child["_id"])["status"] == "assigned"
    later = cases.resolve_incident(
        {"case_id": incident["_id"], "by": "zhao.min", "resolve_children": True, **RESOLVE}
    )
    assert later["children"]["resolved"] == [child["_id"]]
    with pytest.raises(BadRequest, match="is not an incident"):
        cases.resolve_incident({"case_id": child["_id"], "by": "zhao.min", **RESOLVE})


def test_a_group_alert_after_resolution_reopens_the_incident_within_the_window(cases):
    cases.handle_alert_raised([group_alert(50)])
    [incident] = cases.list_incidents()
    cases.resolve_incident({"case_id": incident["_id"], "by": "zhao.min", **RESOLVE})
    cases.handle_alert_raised([customer_alert(1)])  # no open incident: no parent
    assert by_customer(cases)["C0001"]["parent_id"] is None
    cases.now.advance(hours=2)
    cases.handle_alert_raised([group_alert(90)])  # the store collapses again
    [again] = cases.list_incidents()
    assert again["_id"] == incident["_id"] and again["status"] == "reopened"
    assert by_customer(cases)["C0001"]["parent_id"] == incident["_id"]  # linked on reopening


def test_the_dry_run_of_a_group_alert_predicts_the_incident(cases):
    predicted = cases.simulate_alert(group_alert(50, wire=True))
    assert predicted["action"] == "open" and predicted["assignee"] == {"kind": "person", "id": "zhao.min"}
    cases.handle_alert_raised([group_alert(50)])
    [incident] = cases.list_incidents()
    assert predicted["case_key"] == incident["open_key"]
    assert cases.simulate_alert(group_alert(80, wire=True))["action"] == "attach"


def test_a_resolution_whose_resolver_died_midway_is_finished_by_the_sweep(cases, monkeypatch):
    cases.handle_alert_raised([customer_alert(n) for n in (1, 2, 3)])
    cases.handle_alert_raised([group_alert(50)])
    [incident] = cases.list_incidents()
    real, calls = incidents._resolve_child, []

    def dies_on_the_second(*args):
        calls.append(args[3]["_id"])
        if len(calls) == 2:
            raise ConnectionError("the worker's connection dropped")
        real(*args)

    monkeypatch.setattr(incidents, "_resolve_child", dies_on_the_second)
    request = {"case_id": incident["_id"], "by": "zhao.min", "resolve_children": True, **RESOLVE}
    with pytest.raises(ConnectionError):
        cases.resolve_incident(request)
    monkeypatch.setattr(incidents, "_resolve_child", real)
    stored = cases.get_case(incident["_id"])
    assert stored["status"] == "resolved" and stored["children_resolution"]["state"] == "pending"
    assert [c["status"] for c in stored["children"]].count("resolved") == 1
    assert cases.sweep_incident_resolutions() == 0  # the resolver's lease still holds
    cases.now.advance(seconds=121)
    assert cases.sweep_incident_resolutions() == 1
    finished = cases.get_case(incident["_id"])
    assert finished["children_resolution"]["state"] == "done"
    assert {c["status"] for c in finished["children"]} == {"resolved"}
    assert cases.sweep_incident_resolutions() == 0


def test_an_agent_sees_only_the_children_visible_to_them(cases):
    cases.handle_alert_raised([customer_alert(1), customer_alert(2, owner_id="zhao.min")])
    cases.handle_alert_raised([group_alert(50)])
    [incident] = cases.list_incidents()
    agent = {"user_id": "zhao.min", "role": "agent", "teams": []}
    shown = cases.get_case(incident["_id"], visible_to=agent)
    assert [c["customer"]["id"] for c in shown["children"]] == ["C0002"]  # li.na's case is not theirs
    assert shown["child_counts"]["total"] == 2
    assert len(cases.get_case(incident["_id"])["children"]) == 2


def test_two_resolutions_at_once_resolve_each_child_once(cases):
    cases.handle_alert_raised([customer_alert(n) for n in range(1, 9)])
    cases.handle_alert_raised([group_alert(50)])
    [incident] = cases.list_incidents()
    request = {"case_id": incident["_id"], "by": "zhao.min", "resolve_children": True, **RESOLVE}
    before = len(sent(cases, "case_status_changed"))
    results = [t.wait() for t in [eventlet.spawn(cases.resolve_incident, request) for _ in range(2)]]
    assert all(r["incident"]["status"] == "resolved" for r in results)
    assert sorted(c for r in results for c in r["children"]["resolved"]) == sorted(
        c["_id"] for c in by_customer(cases).values()
    )  # each child resolved by exactly one of them
    assert len(sent(cases, "case_status_changed")) == before + 8
    assert {c["status"] for c in by_customer(cases).values()} == {"resolved"}


def test_erasing_the_tipping_customer_keeps_the_incident_title(cases):
    cases.handle_alert_raised([group_alert(50)])
    [incident] = cases.list_incidents()
    cases.handle_customer_erased({"customer_id": "C0050", "customer_ids": ["C0050"]})
    erased = cases.get_case(incident["_id"])
    assert erased["title"] == "门店 NPS 骤降 · attributes.store=SH-021"
    assert "name" not in erased["customer"] and "text" not in erased["event"]


def test_resolving_an_incident_schedules_each_childs_follow_up_not_its_own(cases):
    """Issue 17: resolving the incident with its children schedules each child's 回访 (the
    normal resolve path's follow-up); the incident, nobody's customer case, gets none."""
    from nameko import config

    policy = {"by": "automatic", "channels": ["sms"], "calendar": "24x7", "after_business_hours": 1}
    with config.patch({"SURVEY_SECRET": "incident-test-secret"}):
        cases.apply_followup_policy({"id": "default", "rules": [{"name": "all", **policy}]})
        cases.handle_alert_raised([customer_alert(n) for n in (1, 2)])
        cases.handle_alert_raised([group_alert(50)])
        [incident] = cases.list_incidents()
        request = {"case_id": incident["_id"], "by": "zhao.min", "resolve_children": True, **RESOLVE}
        cases.resolve_incident(request)
        for child in by_customer(cases).values():
            assert cases.get_followup(child["_id"])["state"] == "pending"
        assert cases.get_case(incident["_id"]).get("followups") in (None, [])
