"""The teams page in real headless Chromium and over HTTP: an admin reaches it from the
header and sees every team of the people directory with its lead, who is on shift,
each member's open cases and load, and the breaching cases, with a link to the people
page to edit them; an agent sees their own team only, in zh-CN, its breaching cases
listed only where they may open them; the API answers the same."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from nameko import config
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import wait_until
from tests.e2e.gateway_stack import PASSWORDS, feedback, gateway  # noqa: F401 - the fixture
from tests.e2e.test_browser import browser, log_in, shot  # noqa: F401 - the fixture

SAMPLE = yaml.safe_load((Path(__file__).resolve().parents[2] / "samples/people.yaml").read_text("utf-8"))
WEEK = 7 * 24 * 60  # "breaching soon" reaches past the weekend: every new case is in it


@pytest.fixture
def teams_stack(gateway):  # noqa: F811
    """The sample people directory; three cases of cx-care's queue, one taken by chen.jie,
    and wang.lei's refund case (team cx-care, not visible to chen.jie)."""
    assert gateway.api("admin", "PUT", "/api/v1/people", json=SAMPLE).status_code == 200
    events = [feedback(f"t-{i}", nps=2, customer=f"T{i}", text="快递没到") for i in (1, 2, 3)]
    events.append(feedback("t-refund", nps=9, customer="TR", text="我要退款"))
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=events).status_code == 202
    cases = wait_until(lambda: len(gateway.rpc.cases.list_cases()) == 4 and gateway.rpc.cases.list_cases())
    ids = {c["customer"]["id"]: c["_id"] for c in cases}
    taker = {"user_id": "chen.jie", "role": "agent", "teams": ["cx-care"]}
    gateway.rpc.cases.take_case(
        {"case_id": ids["T1"], "taker": taker, "seen": "team:cx-care", "reason": "我来处理"}
    )
    with config.patch({"CONSOLE_BREACHING_SOON_MINUTES": WEEK}):
        yield gateway, ids


def test_an_admin_and_an_agent_see_the_teams(teams_stack, browser):  # noqa: F811
    gw, ids = teams_stack
    wait = WebDriverWait(browser, 10)
    log_in(browser, gw.url, "root", PASSWORDS["admin"])
    wait.until(ec.presence_of_element_located((By.ID, "nav-teams"))).click()
    wait.until(ec.presence_of_element_located((By.ID, "team-cx-care")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Teams"
    sections = [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "section.team")]
    assert sections == ["team-cx-care", "team-logistics", "team-billing"]
    assert browser.find_element(By.ID, "lead-cx-care").text == "王磊 (wang.lei)"
    on_shift = browser.find_element(By.ID, "on-shift-cx-care").text
    assert "陈杰" in on_shift and "孙雨" not in on_shift  # sun.yu is off shift
    chen = browser.find_element(By.ID, "member-cx-care-chen.jie").find_elements(By.TAG_NAME, "td")
    assert [c.text for c in chen[1:3]] == ["yes", "1"] and int(
        chen[3].text
    ) > 0  # on shift, 1 open case, a load
    assert browser.find_element(By.ID, "open-cx-care").text == "4"
    assert browser.find_element(By.ID, "waiting-cx-care").text == "2"  # T2, T3 still in the team's queue
    rows = browser.find_elements(By.CSS_SELECTOR, "#breaching-cx-care tbody tr.breaching")
    assert {r.get_attribute("data-case") for r in rows} == set(ids.values())
    assert browser.find_element(By.ID, "breaching-count-cx-care").text == "4"
    assert browser.find_element(By.ID, "edit-teams").get_attribute("href").endswith("/people")
    shot(browser, "teams-en")

    browser.find_element(By.ID, "logout").click()
    log_in(browser, gw.url, "chen.jie", PASSWORDS["agent"])
    wait.until(ec.presence_of_element_located((By.ID, "nav-teams"))).click()
    wait.until(ec.presence_of_element_located((By.ID, "team-cx-care")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "团队"
    assert [s.get_attribute("id") for s in browser.find_elements(By.CSS_SELECTOR, "section.team")] == [
        "team-cx-care"
    ]
    rows = browser.find_elements(By.CSS_SELECTOR, "#breaching-cx-care tbody tr.breaching")
    assert ids["TR"] not in {r.get_attribute("data-case") for r in rows} and len(rows) == 3
    assert (
        browser.find_element(By.ID, "hidden-cx-care").text == "另有 1 个未列出（你无权打开，或超出列表上限）"
    )
    assert not browser.find_elements(By.ID, "edit-teams")  # editing is the admins' people page
    shot(browser, "teams-zh")


def test_the_teams_api_answers_each_role_as_the_page_does(teams_stack):
    gw, ids = teams_stack
    everyone = gw.api("owner", "GET", "/api/v1/teams").json()
    assert [t["id"] for t in everyone["teams"]] == ["cx-care", "logistics", "billing"]
    care = everyone["teams"][0]
    assert care["lead"] == {"id": "wang.lei", "name": "王磊"} and care["breaching_total"] == 4
    assert {m["id"]: m["open_cases"] for m in care["members"]}["chen.jie"] == 1
    mine = gw.api("agent", "GET", "/api/v1/teams").json()
    assert [t["id"] for t in mine["teams"]] == ["cx-care"] and mine["teams"][0]["hidden"] == 1
    assert gw.api("integration", "GET", "/api/v1/teams").status_code == 403
    page = gw.login("agent").get(gw.url + "/teams")
    assert page.status_code == 200 and 'id="team-logistics"' not in page.text
