"""Role boards on the running stack: an agent's own work, a team lead's team, a CX
manager's journey; each table as CSV; every label in the page's language."""

from __future__ import annotations

import csv
import io
import re

from tests.conftest import wait_until
from tests.e2e.board_seed import seed
from tests.e2e.gateway_stack import gateway  # noqa: F401 - the fixture


def test_each_role_sees_its_board_and_every_table_exports(gateway):  # noqa: F811
    seed(gateway)
    mine = gateway.api("agent", "GET", "/api/v1/boards/mine").json()
    statuses = {r["status"]: r["cases"] for r in mine["statuses"]}
    assert statuses["assigned"] == 1 and statuses["in_progress"] == 0 and statuses["open"] == 0
    [me] = mine["figures"]
    assert me["key"] == "chen.jie" and me["cases"] == 2 and me["resolved"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", mine["since"]) and mine["since"] < mine["until"]

    team = gateway.api("agent", "GET", "/api/v1/boards/team").json()
    assert team["team"] == "cx-care"
    members = {m["agent"]: m for m in team["members"]}
    assert set(members) == {"chen.jie", "emma.wu", "li.na", "sun.yu", "wang.lei"}
    assert members["chen.jie"]["load"] > 0 and members["sun.yu"]["on_shift"] is False
    assert gateway.api("agent", "GET", "/api/v1/boards/team", params={"team": "logistics"}).status_code == 403
    assert (
        gateway.api("owner", "GET", "/api/v1/boards/team", params={"team": "logistics"}).json()["team"]
        == "logistics"
    )
    assert gateway.api("owner", "GET", "/api/v1/boards/team", params={"team": "nope"}).status_code == 404

    assert gateway.api("agent", "GET", "/api/v1/boards/journey").status_code == 403
    journey = wait_until(
        lambda: (j := gateway.api("owner", "GET", "/api/v1/boards/journey").json())
        and sum(s["responses"] for s in j["stages"]) == 3
        and j,
        message="every response in the journey",
    )
    stages = [s["touchpoint"] for s in journey["stages"]]
    assert stages.index("billing") < stages.index("delivery")  # JOURNEY_TOUCHPOINTS order
    delivery = next(s for s in journey["stages"] if s["touchpoint"] == "delivery")
    assert delivery["nps"] == -100.0 and delivery["responses"] == 2 and delivery["alerts"] == 2
    assert delivery["cases"] == 2
    assert journey["root_causes"] == [{"root_cause": "delivery_delay", "cases": 1}]

    bad = gateway.api(
        "owner", "GET", "/api/v1/boards/journey", params={"since": "2026-12-31", "until": "2026-01-01"}
    )
    assert bad.status_code == 400 and bad.json()["error"]["errors"][0]["field"] == "query.since"
    assert gateway.api("owner", "GET", "/api/v1/boards/elsewhere").status_code == 400

    exported = gateway.api(
        "owner", "GET", "/api/v1/boards/journey", params={"format": "csv", "table": "stages"}
    )
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0] == ["touchpoint", "nps", "responses", "csat", "ces", "alerts", "cases", "sla_breach_rate"]
    assert ["delivery", "-100.0", "2"] == next(r for r in rows if r[0] == "delivery")[:3]
    missing = gateway.api("owner", "GET", "/api/v1/boards/journey", params={"format": "csv", "table": "x"})
    assert missing.status_code == 400 and "stages" in missing.text


def test_board_pages_are_labelled_in_the_users_language(gateway):  # noqa: F811
    seed(gateway)
    session = gateway.login("owner")
    page = session.get(gateway.url + "/boards/journey").text
    assert "客户旅程看板" in page and 'type="date"' in page and "物流配送" in page and "配送延误" in page
    assert 'id="chart-journey-nps"' in page and "各触点 NPS" in page
    for code in ("delivery_delay", "in_progress", "team_queue"):
        assert f">{code}<" not in page
    csv_link = re.search(r'id="csv-stages" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert session.get(gateway.url + csv_link).headers["Content-Type"].startswith("text/csv")
    agent = gateway.login("agent")
    mine = agent.get(gateway.url + "/boards/mine").text
    assert "我的未结工单（按状态）" in mine and "已分配" in mine and 'id="board-tab-journey"' not in mine
    team = agent.get(gateway.url + "/boards/team").text
    assert "成员负载与指标" in team and "chen.jie" in team and "团队待认领" in team
