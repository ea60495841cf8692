"""cases.queue in the database: saved views with their counts, finished cases hidden by
default, search by case id / customer / text, totals and paging, breaching soon on a
controlled clock, and refusals that name the field."""

import pytest

from services.common.errors import BadRequest
from tests.services import test_case_visibility as seeded
from tests.services.test_case_visibility import CHEN

desk = seeded.desk  # the fixtures
queue = seeded.queue

OWNER = {"user_id": "zhao.min", "role": "owner", "teams": []}


def ask(worker, viewer=CHEN, **request):
    return worker.queue({"viewer": viewer, **request})


def ids(answer):
    return {c["_id"] for c in answer["items"]}


def test_views_count_what_each_shows_and_hide_finished_cases(queue):
    worker, cases = queue
    first = ask(worker)
    assert first["view"] == "open"
    # the agent's visible cases: own, team, collaborating, the no-team pool (not logistics')
    assert ids(first) == {cases[k] for k in ("own", "team", "helping", "pool_nobody")}
    assert first["total"] == 4
    counts = first["counts"]
    assert counts["open"] == 4 and counts["mine"] == 1 and counts["unassigned"] == 1
    assert counts["team"] == 3  # cx-care's cases: assigned to the team or to its members
    for view in ("mine", "team", "unassigned"):
        answer = ask(worker, view=view)
        assert answer["total"] == counts[view] == len(answer["items"]), view
    assert ids(ask(worker, view="mine")) == {cases["own"]}

    worker.resolve(
        {
            "case_id": cases["own"],
            "by": "chen.jie",
            "root_cause": "delivery_delay",
            "first_contact_resolution": True,
        }
    )
    after = ask(worker)
    assert cases["own"] not in ids(after) and after["counts"]["mine"] == 0 and after["total"] == 3
    assert ids(ask(worker, view="mine", status="resolved")) == {cases["own"]}
    assert cases["own"] in ids(ask(worker, view="all"))
    assert ask(worker, view="all")["total"] == 4
    # an owner sees every case (resolved hidden); with no team, "my team" is empty
    everything = ask(worker, OWNER)
    assert everything["total"] == 5 and everything["counts"]["team"] == 0


def test_search_by_case_id_customer_and_text(queue):
    worker, cases = queue
    assert ids(ask(worker, q=cases["team"])) == {cases["team"]}
    assert ids(ask(worker, q=cases["team"].lower())) == {cases["team"]}
    assert ids(ask(worker, q="CB")) == {cases["team"]}  # the customer id
    assert ask(worker, q="张三")["total"] == 4  # the customer's name, a substring
    assert ask(worker, q="no such thing")["total"] == 0
    # search never widens what the viewer may see
    assert ask(worker, q=cases["other"])["total"] == 0
    assert ids(ask(worker, OWNER, q=cases["other"])) == {cases["other"]}


def test_paging_both_ways_adds_up_to_the_total(queue):
    worker, _ = queue
    seen = []
    for skip in range(0, 6, 2):
        page = ask(worker, OWNER, limit=2, skip=skip)
        assert page["total"] == 6 and page["skip"] == skip
        seen += [c["_id"] for c in page["items"]]
    assert len(seen) == len(set(seen)) == 6
    assert [c["_id"] for c in ask(worker, OWNER, limit=2, skip=2)["items"]] == seen[2:4]  # back again
    newest = [c["_id"] for c in ask(worker, OWNER, sort="newest", limit=6)["items"]]
    assert sorted(newest) == sorted(seen)


def test_breaching_soon_follows_the_sla_clocks(queue):
    worker, cases = queue
    assigned = {cases["own"], cases["team"], cases["helping"]}  # their acknowledge clocks run
    assert ask(worker, view="breaching", soon_minutes=30)["total"] == 0
    worker.now.advance(minutes=45)  # P2: acknowledge within 60 working minutes
    soon = ask(worker, view="breaching", soon_minutes=30)
    assert assigned <= ids(soon)
    assert soon["counts"]["breaching"] == ask(worker, view="breaching")["total"] == soon["total"]
    worker.acknowledge({"case_id": cases["own"], "by": "chen.jie"})
    assert cases["own"] not in ids(ask(worker, view="breaching", soon_minutes=30))
    worker.now.advance(hours=3)
    late = ask(worker, view="breaching", soon_minutes=1)
    assert {c["breach_state"] for c in late["items"] if c["_id"] in assigned - {cases["own"]}} == {"breached"}


@pytest.mark.parametrize(
    "request_, field",
    [
        ({"view": "everything"}, "view"),
        ({"limit": 0}, "limit"),
        ({"status": "gone"}, "status"),
        ({"q": "x" * 200}, "q"),
        ({"viewer": {"user_id": "a", "role": "boss"}}, "viewer.role"),
    ],
)
def test_bad_requests_name_the_field(queue, request_, field):
    worker, _ = queue
    with pytest.raises(BadRequest) as refused:
        worker.queue({"viewer": CHEN, **request_})
    assert str(refused.value).startswith(field), str(refused.value)


def test_collaboration_hints_spare_the_pass_over_the_cases_and_never_grant(queue, monkeypatch):
    """The queue asks the collaboration hints whether the agent helps on anything
    (stores/collaborations.py); a store written before them checks the cases until
    the backfill has written them; a hint without the collaboration shows nothing."""
    from services.cases.backfill_tallies import backfill
    from services.cases.stores.collaborations import COLLECTION, META, Collaborations

    worker, cases = queue
    db = worker.store.db
    assert db[COLLECTION].find_one({"_id": META})["state"] == "complete"  # empty when started
    assert db[COLLECTION].count_documents({"person": "chen.jie"}) == 1
    scans = []
    find_one = type(db.cases).find_one
    monkeypatch.setattr(
        type(db.cases), "find_one", lambda self, *a, **k: scans.append(a) or find_one(self, *a, **k)
    )
    helping = {cases[k] for k in ("own", "team", "helping", "pool_nobody")}
    assert ids(ask(worker)) == helping
    assert not [a for a in scans if a and "collaborators." in str(a[0])]  # no pass over the cases

    db[COLLECTION].drop()  # a store written before the hints
    Collaborations(db).start()
    assert db[COLLECTION].find_one({"_id": META})["state"] == "incomplete"
    assert ids(ask(worker)) == helping  # the cases are checked
    assert backfill(db)["collaborations"] == 1
    assert db[COLLECTION].find_one({"_id": META})["state"] == "complete"
    assert ids(ask(worker)) == helping

    Collaborations(db).note(cases["other"], "chen.jie")  # a hint whose case update never came
    assert ids(ask(worker)) == helping
    zhao_agent = {"user_id": "zhao.min", "role": "agent", "teams": ["logistics"]}
    Collaborations(db).note(cases["team"], "zhao.min")
    assert cases["team"] not in ids(ask(worker, zhao_agent))
