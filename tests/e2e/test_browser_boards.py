"""The role boards in real headless Chromium: a CX manager picks a period with the date
pickers, reads the journey board in English, every control labelled."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import wait_until
from tests.e2e.board_seed import seed
from tests.e2e.gateway_stack import PASSWORDS, gateway  # noqa: F401 - the fixture
from tests.e2e.test_browser import browser, log_in, shot  # noqa: F401 - the fixture

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
