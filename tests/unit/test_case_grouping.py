"""Incidents as data (services/cases/grouping.py): which customer cases a group covers,
which children an incident links, which open incident a new case attaches to."""

from datetime import UTC, datetime

import pytest

from services.cases import grouping

pytestmark = pytest.mark.unit

AT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
STORE = {"by": ["attributes.store"], "key": {"attributes.store": "SH-021"}}
STORE_CHECKOUT = {
    "by": ["attributes.store", "touchpoint"],
    "key": {"attributes.store": "SH-021", "touchpoint": "checkout"},
}


def event(**fields):
    return {"channel": "app", "touchpoint": "checkout", "attributes": {"store": "SH-021"}, **fields}


def case(cid, status="assigned", parent_id=None, **fields):
    return {"_id": cid, "status": status, "parent_id": parent_id, "event": event(**fields), "opened_at": AT}


def incident(iid, group, status="assigned", opened_at=AT):
    return {"_id": iid, "kind": "incident", "status": status, "group": group, "opened_at": opened_at}


@pytest.mark.parametrize(
    ("group", "ev", "covered"),
    [
        (STORE, event(), True),
        (STORE, event(attributes={"store": "BJ-007"}), False),
        (STORE, event(attributes={}), False),  # no store: in no store's group
        (STORE, event(attributes=None), False),
        (STORE_CHECKOUT, event(), True),
        (STORE_CHECKOUT, event(touchpoint="delivery"), False),  # every path must match
        ({"by": ["channel"], "key": {"channel": "app"}}, event(), True),
        ({"by": ["touchpoint"], "key": {"touchpoint": "checkout"}}, event(touchpoint=None), False),
        # numbers and booleans in attributes: the key holds them as strings
        (
            {"by": ["attributes.floor"], "key": {"attributes.floor": "3"}},
            event(attributes={"floor": 3}),
            True,
        ),
        (
            {"by": ["attributes.floor"], "key": {"attributes.floor": "3"}},
            event(attributes={"floor": 3.0}),
            True,
        ),
        (
            {"by": ["attributes.vip"], "key": {"attributes.vip": "true"}},
            event(attributes={"vip": True}),
            True,
        ),
        (
            {"by": ["attributes.vip"], "key": {"attributes.vip": "true"}},
            event(attributes={"vip": "yes"}),
            False,
        ),
    ],
)
def test_covers_resolves_every_by_path_against_the_event(group, ev, covered):
    assert grouping.covers(group, ev) is covered


def test_children_to_link_takes_active_covered_cases_without_a_parent():
    cases = [
        case("A"),
        case("B", status="open"),
        case("C", status="resolved"),  # finished: not linked
        case("D", parent_id="INC-OTHER"),  # another incident's child already
        case("E", attributes={"store": "BJ-007"}),
        {**case("F"), "kind": "incident"},  # an incident is never a child
    ]
    assert grouping.children_to_link(incident("I", STORE), cases) == ["A", "B"]


def test_a_new_case_attaches_to_the_earliest_open_incident_covering_it():
    later = incident("I2", STORE_CHECKOUT, opened_at=AT.replace(hour=3))
    earlier = incident("I1", STORE)
    closed = incident("I0", STORE, status="resolved", opened_at=AT.replace(hour=1))
    assert grouping.parent_for(case("A"), [later, earlier, closed])["_id"] == "I1"
    assert grouping.parent_for(case("B", touchpoint="delivery"), [later, closed]) is None
    assert grouping.parent_for(case("C", parent_id="I9"), [earlier]) is None


def test_event_terms_cover_every_group_an_incident_may_be_keyed_on():
    terms = grouping.event_terms(event(attributes={"store": "SH-021", "floor": 3, "note": None}))
    assert terms == ["touchpoint=checkout", "channel=app", "attributes.floor=3", "attributes.store=SH-021"]
    # the lookup by terms finds every incident whose group covers the event
    for group in (STORE, STORE_CHECKOUT, {"by": ["channel"], "key": {"channel": "app"}}):
        assert set(grouping.group_terms(group)) <= set(terms)


def test_the_incident_key_is_one_per_group_whatever_the_order_of_by():
    swapped = {"by": ["touchpoint", "attributes.store"], "key": dict(STORE_CHECKOUT["key"])}
    assert grouping.incident_key(STORE_CHECKOUT) == grouping.incident_key(swapped)
    assert grouping.incident_key(STORE) != grouping.incident_key(STORE_CHECKOUT)
    assert grouping.incident_key(STORE).startswith("\x1eincident")


def test_child_counts():
    counts = grouping.child_counts(
        [{"status": s} for s in ("assigned", "open", "resolved", "resolved", "closed")]
    )
    assert counts == {
        "total": 5,
        "active": 2,
        "resolved": 2,
        "closed": 1,
        "by_status": {"assigned": 1, "open": 1, "resolved": 2, "closed": 1},
    }


def test_the_database_prefilter_admits_the_stored_forms_of_a_value():
    query = grouping.covered_query({"by": ["attributes.floor"], "key": {"attributes.floor": "3"}})
    assert query["event.attributes.floor"] == {"$in": ["3", 3, 3.0]}
    assert query["parent_id"] is None and query["kind"] == {"$ne": "incident"}
    assert grouping.candidate_values("nan") == ["nan"]


# storms (a customer rule's throttle refusing matches: services/alerts/storm.py) --------

STORM = {
    "by": ["rule"],
    "key": {"rule": "charges"},
    "condition": "storm",
    "window": "1h",
    "observed": {"since": "2026-11-23T02:00:00+00:00", "until": "2026-11-23T03:00:00+00:00"},
}


def rule_case(cid, rule="charges", at=AT, **fields):
    return {**case(cid, occurred_at=at, **fields), "rule": {"id": rule, "version": 1, "name": rule}}


def test_a_storm_covers_its_rules_cases_from_its_period_on():
    from datetime import timedelta

    assert grouping.covers_case(STORM, rule_case("A"))
    assert grouping.covers_case(STORM, rule_case("B", at=AT + timedelta(hours=5)))  # later: while open
    assert not grouping.covers_case(STORM, rule_case("C", at=AT - timedelta(seconds=1)))  # before it
    assert not grouping.covers_case(STORM, rule_case("D", rule="other"))
    naive = rule_case("E", at=AT.replace(tzinfo=None))  # as a store without tz hands it back
    assert grouping.covers_case(STORM, naive)
    # a customer case's store or touchpoint means nothing to a storm, nor its rule to a group
    assert not grouping.covers_case(STORE, rule_case("F", attributes={"store": "BJ-007"}))


def test_a_storm_links_and_adopts_only_its_rules_cases():
    storm = incident("IS", STORM)
    cases = [rule_case("A"), rule_case("B", rule="other"), rule_case("C", status="resolved")]
    assert grouping.children_to_link(storm, cases) == ["A"]
    assert grouping.parent_for(rule_case("N"), [storm])["_id"] == "IS"
    assert grouping.parent_for(rule_case("M", rule="other"), [storm]) is None


def test_a_case_is_looked_up_by_its_rule_term_too():
    terms = grouping.case_terms(rule_case("A"))
    assert "rule=charges" in terms and "attributes.store=SH-021" in terms
    assert grouping.group_terms(STORM) == ["rule=charges"]
    query = grouping.covered_query(STORM)
    assert query["rule.id"] == "charges" and "event.rule" not in query
