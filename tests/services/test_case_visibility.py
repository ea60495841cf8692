"""list_cases / get_case in the database: an agent's visible cases (own, team,
collaborating, unassigned of their team), pagination with totals, breach and
touchpoint filters on a controlled clock."""

from datetime import timedelta

import pytest

from services.cases.stores.queries import may_see
from services.common.errors import BadRequest, NotFound
from tests.services.cases_desk import make_desk
from tests.services.test_case_assignment_recovery import crash_once
from tests.services.test_cases import T0, alert, by_strategy


@pytest.fixture
def desk(mongo_client, db_prefix):
    return make_desk(mongo_client[f"{db_prefix}cases"], T0, escalation=False)


def open_for(worker, customer, owner, **kw):
    a = alert(customer=customer, owner=owner, **kw)
    worker.handle_alert_raised([a])
    return worker.list_cases(customer=customer)[0]["_id"]


def person(pid):
    return {"kind": "person", "id": pid}


CHEN = {"user_id": "chen.jie", "role": "agent", "teams": ["cx-care"]}
ZHAO = {"user_id": "zhao.min", "role": "agent", "teams": ["logistics"]}


@pytest.fixture
def queue(desk):
    ids = {
        "own": open_for(desk, "CA", person("chen.jie")),
        "team": open_for(desk, "CB", {"kind": "team", "id": "cx-care"}),
        "helping": open_for(desk, "CC", person("li.na")),
        "other": open_for(desk, "CF", person("zhao.min")),
    }
    desk.add_collaborator(
        {"case_id": ids["helping"], "by": "li.na", "person": "chen.jie", "role": "delivery"}
    )
    crash_once(desk.store.cases, "transition")  # opened for logistics, the assignment died: unassigned
    with pytest.raises(RuntimeError):
        desk.handle_alert_raised([by_strategy(5, sid="logistics-rotation", customer="CD")])
    ids["pool_logistics"] = desk.list_cases(customer="CD")[0]["_id"]
    ids["pool_nobody"] = open_for(desk, "CE", {"kind": "strategy", "id": "no-such-strategy"})
    return desk, ids


def visible(worker, viewer, **kw):
    return {c["_id"] for c in worker.list_cases(visible_to=viewer, limit=500, **kw)}


def test_agents_see_own_team_collaborating_and_their_teams_pool(queue):
    desk, ids = queue
    assert desk.get_case(ids["pool_logistics"])["assignee"] is None
    assert desk.get_case(ids["pool_logistics"])["team"] == "logistics"
    assert visible(desk, CHEN) == {ids[k] for k in ("own", "team", "helping", "pool_nobody")}
    assert visible(desk, ZHAO) == {ids[k] for k in ("other", "pool_logistics", "pool_nobody")}
    for role in ("owner", "admin"):
        assert visible(desk, {"user_id": "boss", "role": role}) == set(ids.values())
    assert visible(desk, CHEN, status="assigned") == {ids[k] for k in ("own", "team", "helping")}
    assert desk.get_case(ids["own"], visible_to=CHEN)["_id"] == ids["own"]
    with pytest.raises(NotFound):  # as if it did not exist
        desk.get_case(ids["other"], visible_to=CHEN)


def test_one_case_in_hand_is_seen_as_the_database_query_sees_it(queue):
    """``may_see`` (take it judges one case in hand) is ``visibility_query``'s twin."""
    desk, ids = queue
    viewers = (
        CHEN,
        ZHAO,
        {"user_id": "li.na", "role": "agent", "teams": []},
        {"user_id": "b", "role": "owner"},
    )
    for viewer in viewers:
        in_hand = {i for i in ids.values() if may_see(desk.store.cases.get_case(i), viewer)}
        assert in_hand == visible(desk, viewer), viewer


def test_get_case_shows_an_agent_exactly_the_cases_their_list_shows(queue):
    """get_case tries the visibility's plain conditions one by one (stores/queries
    visible_case), the list applies visibility_query's $or: both see the same cases."""
    desk, ids = queue
    desk.add_collaborator(  # helping on an unassigned case outside their pool
        {"case_id": ids["pool_logistics"], "by": "zhao.min", "person": "chen.jie", "role": "delivery"}
    )
    nobody = {"user_id": "nobody", "role": "agent", "teams": []}
    for viewer in (CHEN, ZHAO, nobody, {"user_id": "li.na", "role": "agent", "teams": ["logistics"]}):
        seen = set()
        for case_id in ids.values():
            try:
                seen.add(desk.get_case(case_id, visible_to=viewer)["_id"])
            except NotFound:
                pass
        assert seen == visible(desk, viewer), viewer
    assert ids["pool_logistics"] in visible(desk, CHEN)


def test_pages_and_totals_count_visible_cases_only(queue):
    desk, ids = queue
    seen = []
    for skip in (0, 2, 4):
        page = desk.list_cases(visible_to=CHEN, limit=2, skip=skip, with_total=True)
        assert page["total"] == 4 and (page["limit"], page["skip"]) == (2, skip)
        seen += [c["_id"] for c in page["items"]]
    assert len(seen) == 4 and set(seen) == visible(desk, CHEN)
    assert desk.list_cases(with_total=True)["total"] == 6
    # a count of nothing, or a page past the end, answers without reading a page
    assert desk.list_cases(status="closed", with_total=True)["items"] == []
    assert desk.list_cases(with_total=True, skip=6) == {"items": [], "total": 6, "limit": 50, "skip": 6}
    assert len(desk.list_cases(with_total=True, skip=5)["items"]) == 1


def test_bad_filters_name_the_field(queue):
    desk, _ = queue
    for kwargs, message in (
        ({"visible_to": {"user_id": "x", "role": "boss"}}, "visible_to.role: Must be one of"),
        ({"visible_to": {"role": "agent"}}, "visible_to.user_id: Missing data"),
        ({"visible_to": "chen.jie"}, "visible_to: must be an object"),
        ({"breach": "late"}, "breach: must be one of"),
        ({"limit": 0}, "limit: must be an integer"),
        ({"skip": -1}, "skip: must be an integer"),
    ):
        with pytest.raises(BadRequest, match=message):
            desk.list_cases(**kwargs)


def test_breach_and_touchpoint_filters_follow_the_clock(desk):
    p2 = open_for(desk, "CX", person("li.na"), touchpoint="billing")  # ack 60 business min, warn at 48
    a = alert(customer="CY", owner=person("li.na"))
    a["level"] = "P1"  # 24x7: ack 15 min, resolve 240 min (warn at 192)
    desk.handle_alert_raised([a])
    p1 = desk.list_cases(customer="CY")[0]["_id"]
    done = open_for(desk, "CZ", person("li.na"))
    desk.now.advance(minutes=5)
    desk.acknowledge({"case_id": done, "by": "li.na"})
    desk.resolve({"case_id": done, "by": "li.na", "root_cause": "other", "first_contact_resolution": True})

    def breach(state):
        return {c["_id"] for c in desk.list_cases(breach=state)}

    desk.now.at = T0 + timedelta(minutes=50)
    assert (breach("ack_breached"), breach("resolve_breached"), breach("breached")) == ({p1}, set(), {p1})
    assert breach("at_risk") == breach("warning") == {p2}
    assert breach("none") == {done}
    desk.now.at = T0 + timedelta(hours=5)
    assert breach("ack_breached") == {p1, p2} and breach("resolve_breached") == {p1}
    assert breach("at_risk") == set() and breach("none") == {done}
    assert {c["_id"] for c in desk.list_cases(touchpoint="billing")} == {p2}
    assert {c["_id"] for c in desk.list_cases(touchpoint="billing", breach="none")} == set()
