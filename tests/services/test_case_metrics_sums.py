"""cases.metrics (the store's sums of the cases' tallies) against the computation it
replaced (tests/services/case_metrics_oracle.py: every case read and measured in Python),
on a real store filled through the cases service's own write paths: opening (assigned to
a person or a team, by a strategy, or left unassigned), assign, reassign, acknowledge,
start, pending customer and resume, resolve (root causes, first contact), reopen, close,
follow-ups scheduled and done, and SLA clocks running out with no write, compared across
groupings, owners, periods and moments."""

import random
from datetime import timedelta

import pytest
from nameko import config

from services.cases.metrics import epoch_ms
from services.common.errors import BadRequest, Conflict
from tests.services import case_metrics_oracle as oracle
from tests.services.cases_desk import make_desk
from tests.services.test_cases import T0, alert

pytestmark = pytest.mark.service

PEOPLE = ("li.na", "zhao.min", "emma.wu", "chen.jie", "wang.lei")
CAUSES = ("delivery_delay", "billing_error", "other")
GROUPINGS = ("team", "level", "touchpoint", "owner")


@pytest.fixture
def desk(mongo_client, db_prefix):
    with config.patch({"SURVEY_SECRET": "metrics-test-secret"}):
        desk = make_desk(mongo_client[f"{db_prefix}cases"], T0 - timedelta(hours=2), escalation=False)
        rule = {"name": "all", "by": "owner", "channels": ["sms"], "calendar": "24x7",
                "after_business_hours": 1, "task_sla_business_hours": 1}  # fmt: skip
        desk.apply_followup_policy({"id": "default", "rules": [rule]})
        yield desk


def open_case(desk, rng, n):
    owners = [{"kind": "person", "id": p} for p in PEOPLE] + [{"kind": "team", "id": "cx-care"}]
    # a strategy assigns after opening; an unknown one leaves the case open, unassigned
    owners += [{"kind": "strategy", "id": "care-balanced"}, {"kind": "strategy", "id": "nobody"}]
    owner = rng.choice(owners)
    a = alert(n, customer=f"C{n}", owner=owner, touchpoint=rng.choice(("delivery", "billing", None)))
    a["level"] = rng.choice(("P1", "P2", "P3", "P4"))
    desk.handle_alert_raised([a])
    return desk.list_cases(customer=f"C{n}")[0]["_id"]


def work(desk, rng, case_id):
    """One random lifecycle action on the case (refused ones are part of the test too)."""
    by = {"case_id": case_id, "by": rng.choice(PEOPLE)}
    person = {"kind": "person", "id": rng.choice(PEOPLE)}
    moves = {
        "acknowledge": lambda: desk.acknowledge(by),
        "start": lambda: desk.start(by),
        "pending_customer": lambda: desk.pending_customer({**by, "reason": "waiting"}),
        "resume": lambda: desk.resume(by),
        "resolve": lambda: desk.resolve(
            {**by, "root_cause": rng.choice(CAUSES), "first_contact_resolution": rng.random() < 0.5}
        ),
        "reopen": lambda: desk.reopen({**by, "reason": "again"}),
        "reassign": lambda: desk.reassign({**by, "assignee": person, "reason": "load"}),
        "assign": lambda: desk.assign({**by, "assignee": person, "reason": "x"}),
        "close": lambda: desk.close(by),
        "followup_done": lambda: desk.followup_done({**by, "note": "ok"}),
    }
    try:
        moves[rng.choice(sorted(moves))]()
    except (BadRequest, Conflict):
        pass


@pytest.fixture
def worked(desk):
    rng = random.Random(18)
    opened = []
    for n in range(60):
        desk.now.advance(minutes=rng.randint(1, 25), microseconds=rng.randint(0, 999_999))
        if n < 8 or rng.random() < 0.35:
            opened.append(open_case(desk, rng, n))
        for _ in range(2):
            work(desk, rng, rng.choice(opened))
        if n % 10 == 0:
            desk.sweep_followups()
    return desk


def close(new, old, path="figures"):
    if isinstance(old, dict):
        assert set(new) == set(old), path
        for k in old:
            close(new[k], old[k], f"{path}.{k}")
    elif isinstance(old, list):
        assert len(new) == len(old), path
        for i, (a, b) in enumerate(zip(new, old, strict=True)):
            close(a, b, f"{path}[{i}]")
    elif isinstance(old, float) and not isinstance(new, bool):
        assert new == pytest.approx(old, rel=1e-12), path  # a mean summed in another order
    else:
        assert new == old and type(new) is type(old), path


def compare(desk, since, until, group_by=None, also=(), assignee=None):
    request = {"since": since.isoformat(), "until": until.isoformat(), "group_by": group_by,
               "also": list(also), "assignee": assignee}  # fmt: skip
    new = desk.metrics(request)
    overall, groups, by = oracle.compute(desk.store.db, since, until, desk.now(), group_by, also, assignee)
    close(new["overall"], overall, "overall")
    close(new["groups"], groups, "groups")
    close(new.get("also", {}), by, "also")
    return overall


def test_the_sums_equal_the_case_by_case_computation(worked):
    db = worked.store.db
    opened = sorted(c["opened_at"] for c in db.cases.find({}, {"opened_at": 1}))
    first, last = opened[0], opened[-1]
    mid = opened[len(opened) // 2]
    periods = [
        (first - timedelta(hours=1), last + timedelta(hours=1)),  # everything
        (mid, last),  # a bound on a case's own (stored, millisecond) opening: in, and out
        (first + timedelta(microseconds=1), mid + timedelta(microseconds=500)),  # inside its millisecond
        (mid - timedelta(minutes=30, microseconds=250), mid + timedelta(minutes=45)),
    ]
    seen = {"resolved": 0, "acknowledged": 0, "ack_breach": 0, "followups": 0, "root_causes": 0}
    for later in (timedelta(0), timedelta(hours=3), timedelta(days=3)):  # clocks run out, no write
        worked.now.at = worked.now.at + later
        for since, until in periods:
            overall = compare(worked, since, until)
            for figure in seen:
                seen[figure] += bool(overall[figure])
            for group_by in GROUPINGS:
                compare(worked, since, until, group_by)
            compare(worked, since, until, "owner", ["team"])  # the team board's request
            compare(worked, since, until, "team", ["touchpoint", "level"])
            with config.patch({"CASE_ROOT_CAUSES": "other"}):  # causes no longer configured still count
                compare(worked, since, until, "level", ["owner"])
            for person in ("li.na", "cx-care", "nobody"):
                compare(worked, since, until, "owner", assignee=person)
    assert all(seen.values()), seen  # the scenario exercised every kind of figure


def test_a_tally_is_what_the_stored_case_says(worked):
    """The tally written with each transition equals one computed from the case as stored
    (what the backfill writes), so the two paths cannot drift apart."""
    from services.cases.metrics import tally

    for case in worked.store.db.cases.find({}):
        assert case["tally"] == tally(case), case["_id"]
        assert case["tally"]["opened_ms"] == epoch_ms(case["opened_at"])


def test_several_groupings_are_one_group_by_cell_and_old_tallies_fall_back(worked, monkeypatch):
    """The team board's request reads the tallies once (by their cell); tallies written
    before they had a cell are read one grouping at a time, with the same figures."""
    from services.cases.stores.metric_sums import MetricSums

    db = worked.store.db
    opened = sorted(c["opened_at"] for c in db.cases.find({}, {"opened_at": 1}))
    since, until = opened[0] - timedelta(hours=1), opened[-1] + timedelta(hours=1)
    keys = []
    group = MetricSums._group

    def spied(self, match, key, causes):
        keys.append(key)
        return group(self, match, key, causes)

    monkeypatch.setattr(MetricSums, "_group", spied)
    compare(worked, since, until, "owner", ["team"])
    assert set(keys) == {"$tally.cell"}
    some = [c["_id"] for c in db.cases.find({}, {"_id": 1})][:3]
    db.cases.update_many({"_id": {"$in": some}}, {"$unset": {"tally.cell": ""}})
    keys.clear()
    compare(worked, since, until, "owner", ["team"])
    assert {"$assignee.id", "$team"} <= set(keys)
