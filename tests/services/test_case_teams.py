"""The teams overview (cases.teams_overview) on the real store: whose teams, members on
shift with their open cases and loads, the team queue, breaching cases counted for the
team and listed only where the viewer may open them."""

import pytest

from services.common.errors import BadRequest
from tests.services.cases_desk import make_desk
from tests.services.test_cases import T0, alert

CHEN = {"user_id": "chen.jie", "role": "agent", "teams": ["cx-care"]}
EMMA = {"user_id": "emma.wu", "role": "agent", "teams": ["cx-care"]}  # billing's lead, not in it here
LEAD = {"user_id": "wang.lei", "role": "owner", "teams": ["cx-care"]}


@pytest.fixture
def desk(mongo_client, db_prefix):
    worker = make_desk(mongo_client[f"{db_prefix}cases"], T0, escalation=False)
    for n, (customer, owner) in enumerate(
        (
            ("C1", {"kind": "person", "id": "chen.jie"}),
            ("C2", {"kind": "person", "id": "li.na"}),
            ("C3", {"kind": "team", "id": "cx-care"}),
            ("C4", {"kind": "person", "id": "zhao.min"}),
        )
    ):
        worker.handle_alert_raised([alert(n, customer=customer, owner=owner)])
    return worker


def by_id(answer):
    return {t["id"]: t for t in answer["teams"]}


def test_each_team_with_its_lead_members_shift_loads_and_open_cases(desk):
    teams = by_id(desk.teams_overview(LEAD, soon_minutes=1))  # nothing due within a minute
    assert set(teams) == {"cx-care", "logistics", "billing"}  # an owner sees every team
    care = teams["cx-care"]
    assert care["lead"] == {"id": "wang.lei", "name": "王磊"} and care["name"] == "客户关怀组 / CX care"
    rows = {m["id"]: m for m in care["members"]}
    assert sorted(rows) == ["chen.jie", "emma.wu", "li.na", "sun.yu", "wang.lei"]
    assert rows["wang.lei"]["lead"] and not rows["chen.jie"]["lead"]
    assert care["on_shift"] == ["chen.jie", "emma.wu", "li.na", "wang.lei"]  # sun.yu is off shift
    assert (rows["chen.jie"]["open_cases"], rows["li.na"]["open_cases"], rows["sun.yu"]["open_cases"]) == (
        1,
        1,
        0,
    )
    assert rows["chen.jie"]["load"] > 0 and rows["sun.yu"]["load"] == 0
    assert (care["open_cases"], care["waiting"]) == (3, 1)  # chen.jie's, li.na's and the team queue's
    assert (teams["logistics"]["open_cases"], teams["billing"]["open_cases"]) == (1, 0)
    assert care["breaching_total"] == 0 and care["breaching"] == []


def test_breaching_cases_are_counted_for_the_team_and_listed_as_the_viewer_may_open_them(desk):
    desk.now.advance(hours=30)  # every acknowledge clock is overdue
    care = by_id(desk.teams_overview(LEAD))["cx-care"]
    assert care["breaching_total"] == 3 and len(care["breaching"]) == 3
    assert {c["customer"]["id"] for c in care["breaching"]} == {"C1", "C2", "C3"}
    mine = by_id(desk.teams_overview(CHEN))
    assert list(mine) == ["cx-care"]  # an agent: their own teams only
    assert mine["cx-care"]["breaching_total"] == 3  # the team's count, as the team board's
    assert {c["customer"]["id"] for c in mine["cx-care"]["breaching"]} == {"C1", "C3"}  # not li.na's case
    assert set(by_id(desk.teams_overview(EMMA))) == {"cx-care", "billing"}  # and the team they lead
    loner = {"user_id": "nobody", "role": "agent", "teams": []}
    assert desk.teams_overview(loner)["teams"] == []


def test_a_bad_viewer_or_horizon_names_the_field(desk):
    with pytest.raises(BadRequest, match="viewer.role"):
        desk.teams_overview({"user_id": "x", "role": "boss"})
    with pytest.raises(BadRequest, match="soon_minutes"):
        desk.teams_overview(LEAD, soon_minutes=0)
