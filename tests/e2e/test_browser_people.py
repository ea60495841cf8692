"""The people directory page in real headless Chromium: an admin reaches it from the
header, adds a person in the editor and saves; a refused draft comes back with the
field named; the tokens page issues a token; every control is labelled."""

from __future__ import annotations

from pathlib import Path

import yaml
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.gateway_stack import PASSWORDS, gateway  # noqa: F401 - the fixture
from tests.e2e.test_browser import browser, log_in, shot  # noqa: F401 - the fixture

SAMPLE = (Path(__file__).resolve().parents[2] / "samples/people.yaml").read_text("utf-8")
NEW_PERSON = """
  - id: night.owl
    name: 夜班 Night Owl
    teams: [logistics]
    channels: {email: night.owl@example.com}
"""


def labelled(driver, selector: str) -> None:
    for field in driver.find_elements(By.CSS_SELECTOR, selector):
        labels = driver.find_elements(By.CSS_SELECTOR, f"label[for='{field.get_attribute('id')}']")
        assert labels and labels[0].text.strip(), field.get_attribute("name")


def fill(driver, text: str) -> None:
    editor = driver.find_element(By.ID, "document")
    driver.execute_script("arguments[0].value = arguments[1]", editor, text)


def test_an_admin_edits_people_and_issues_a_token(gateway, browser):  # noqa: F811
    wait = WebDriverWait(browser, 10)
    assert gateway.api("admin", "PUT", "/api/v1/people", json=yaml.safe_load(SAMPLE)).status_code == 200
    log_in(browser, gateway.url, "root", PASSWORDS["admin"])
    wait.until(ec.presence_of_element_located((By.ID, "nav-people")))
    browser.find_element(By.ID, "nav-people").click()
    wait.until(ec.presence_of_element_located((By.ID, "people-form")))
    labelled(browser, "#people-form textarea, #language")
    assert "chen.jie, emma.wu, li.na, sun.yu, wang.lei" in browser.find_element(By.ID, "team-cx-care").text

    fill(
        browser,
        SAMPLE.replace(
            "strategies:", NEW_PERSON.replace("email: night.owl@example.com", "phone: '1'") + "strategies:", 1
        ),
    )
    browser.find_element(By.ID, "save-people").click()
    wait.until(ec.presence_of_element_located((By.ID, "people-errors")))
    assert "people.7.channels" in browser.find_element(By.ID, "people-errors").text
    assert "night.owl" in browser.find_element(By.ID, "document").get_attribute("value")  # the draft stays
    shot(browser, "people-refused-en")

    fill(browser, SAMPLE.replace("strategies:", NEW_PERSON + "strategies:", 1))
    browser.find_element(By.ID, "save-people").click()
    wait.until(ec.presence_of_element_located((By.ID, "people-saved")))
    assert browser.find_element(By.ID, "people-saved").text == "Saved: revision 2"
    assert "logistics" in browser.find_element(By.ID, "person-night.owl").text
    assert "night.owl" in browser.find_element(By.ID, "team-logistics").text
    shot(browser, "people-en")

    browser.find_element(By.ID, "nav-tokens").click()
    wait.until(ec.presence_of_element_located((By.ID, "token-form")))
    labelled(browser, "#token-form input:not([type=hidden]), #token-form select")
    browser.find_element(By.CSS_SELECTOR, "#token-user option[value='survey-app']").click()
    name = browser.find_element(By.ID, "token-name")
    name.clear()
    name.send_keys("browser")
    browser.find_element(By.ID, "issue-token").click()
    wait.until(ec.presence_of_element_located((By.ID, "new-token")))
    token = browser.find_element(By.ID, "new-token").get_attribute("value")
    me = gateway.api(None, "GET", "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["id"] == "survey-app"
