"""The role boards in real headless Chromium: a CX manager picks a period with the date
pickers, reads the journey board in English, every control labelled; an agent reads
"my work" and a team lead "my team" for a period picked with the date pickers, and each
table's CSV link answers 200 with its header row."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from services.gateway.boards import TABLES
from tests.conftest import wait_until
from tests.e2e.board_seed import seed
from tests.e2e.gateway_stack import PASSWORDS, gateway  # noqa: F401 - the fixture
from tests.e2e.test_browser import browser, check_labels, log_in, shot  # noqa: F401 - the fixture

JOURNEY = "/api/v1/boards/journey?since=2026-11-20"


def test_a_manager_reads_the_journey_board_for_a_period(gateway, browser):  # noqa: F811
    seed(gateway)
    wait = WebDriverWait(browser, 10)
    log_in(browser, gateway.url, "zhao.min", PASSWORDS["owner"])
    wait.until(ec.presence_of_element_located((By.ID, "nav-boards")))
    browser.find_element(By.ID, "nav-boards").click()
    wait.until(ec.presence_of_element_located((By.ID, "board-statuses")))
    browser.find_element(By.ID, "board-tab-journey").click()
    wait.until(ec.presence_of_element_located((By.ID, "chart-journey-nps")))
    for field in browser.find_elements(By.CSS_SELECTOR, "#board-filters input, #board-filters select"):
        labels = browser.find_elements(By.CSS_SELECTOR, f"label[for='{field.get_attribute('id')}']")
        assert labels and labels[0].text.strip(), field.get_attribute("name")
    assert browser.find_element(By.ID, "since").get_attribute("type") == "date"
    wait_until(  # the profiles service has counted every response
        lambda: sum(s["responses"] for s in gateway.api("owner", "GET", JOURNEY).json()["stages"]) == 3
    )
    # a period picked with the date picker: from the day the feedback was given
    since = browser.find_element(By.ID, "since")
    browser.execute_script("arguments[0].value = arguments[1]", since, "2026-11-20")
    browser.find_element(By.ID, "board-submit").click()
    wait.until(lambda d: "since=2026-11-20" in d.current_url)
    stages = browser.find_element(By.ID, "board-stages").text
    assert "物流配送" in stages and "-100" in stages
    shot(browser, "board-journey-zh")
    browser.find_element(By.CSS_SELECTOR, "#language option[value='en']").click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Customer journey"))
    assert "after-sales" in browser.find_element(By.ID, "board-stages").text  # after_sales, labelled
    assert "delivery delay" in browser.find_element(By.ID, "board-root_causes").text
    # each chart's title is on the page, not only in a tooltip
    assert browser.find_element(By.CSS_SELECTOR, "#figure-nps figcaption").text == "NPS per touchpoint"
    shot(browser, "board-journey-en")


LEAD = {
    "id": "wang.lei",
    "name": "王磊",
    "role": "agent",
    "teams": ["cx-care"],
    "password": "lead-password-1",
}


def pick_period(driver, since: str, until: str) -> None:
    """Set both date pickers (as the picker does: the input's value) and show the board."""
    for field, value in (("since", since), ("until", until)):
        driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, field), value)
    driver.find_element(By.ID, "board-submit").click()
    WebDriverWait(driver, 10).until(lambda d: f"since={since}&until={until}" in d.current_url)


def column(driver, table: str, name: str) -> list[str]:
    return [c.text for c in driver.find_elements(By.CSS_SELECTOR, f"#board-{table} td[data-column='{name}']")]


def pairs(driver, table: str, key: str, value: str) -> dict[str, str]:
    return dict(zip(column(driver, table, key), column(driver, table, value), strict=True))


def csv_exports(driver, board: str) -> dict[str, list[list[str]]]:
    """Each table's CSV link fetched with the browser's session: table -> rows."""
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    out = {}
    for table in TABLES[board]:
        href = driver.find_element(By.ID, f"csv-{table}").get_attribute("href")
        assert driver.find_element(By.ID, f"csv-{table}").get_attribute("download") is not None
        r = requests.get(href, cookies=cookies, timeout=10)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv"), (table, r.text)
        out[table] = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert out[table][0] == list(TABLES[board][table]), table  # the header row
    return out


def test_an_agent_and_a_team_lead_read_their_boards_for_a_period(gateway, browser):  # noqa: F811
    seed(gateway)  # chen.jie took two cx-care cases today and resolved one
    gateway.rpc.gateway.put_user(LEAD)
    wait = WebDriverWait(browser, 10)
    log_in(browser, gateway.url, "chen.jie", PASSWORDS["agent"])
    wait.until(ec.presence_of_element_located((By.ID, "nav-boards"))).click()
    wait.until(ec.presence_of_element_located((By.ID, "board-statuses")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "我的工作"
    assert not browser.find_elements(By.ID, "board-tab-journey")  # not for agents
    check_labels(browser, "#board-filters")
    assert {browser.find_element(By.ID, f).get_attribute("type") for f in ("since", "until")} == {"date"}
    today = browser.find_element(By.ID, "until").get_attribute("value")
    yesterday = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
    pick_period(browser, yesterday, yesterday)  # before the cases were opened
    assert column(browser, "figures", "cases") == ["0"]
    pick_period(browser, today, today)
    assert column(browser, "figures", "cases") == ["2"] and column(browser, "figures", "resolved") == ["1"]
    assert pairs(browser, "statuses", "status", "cases")["已分配"] == "1"
    shot(browser, "board-mine-zh")
    exported = csv_exports(browser, "mine")
    assert exported["figures"][1][:3] == ["chen.jie", "2", "1"]  # the period picked

    browser.delete_all_cookies()
    log_in(browser, gateway.url, "wang.lei", LEAD["password"])
    wait.until(ec.presence_of_element_located((By.ID, "nav-boards"))).click()
    wait.until(ec.presence_of_element_located((By.ID, "board-tab-team"))).click()
    wait.until(ec.presence_of_element_located((By.ID, "board-members")))
    check_labels(browser, "#board-filters")
    options = browser.find_elements(By.CSS_SELECTOR, "#team option")
    assert [(o.get_attribute("value"), o.text) for o in options] == [("cx-care", "客户关怀组 / CX care")]
    pick_period(browser, today, today)
    members = pairs(browser, "members", "agent", "cases")
    assert (
        set(members) == {"chen.jie", "emma.wu", "li.na", "sun.yu", "wang.lei"} and members["chen.jie"] == "2"
    )
    shot(browser, "board-team-zh")
    exported = csv_exports(browser, "team")
    assert any(row[:1] == ["chen.jie"] for row in exported["members"][1:])
    pick_period(browser, yesterday, yesterday)
    members = pairs(browser, "members", "agent", "cases")
    assert members["chen.jie"] == "0"
