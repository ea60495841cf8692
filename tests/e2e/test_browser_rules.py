"""The rule editor in real headless Chromium: an admin opens a rule from the rules list,
edits its YAML, dry-runs the draft on recent feedback, then saves it: the rule being
edited gets its next version (save after a dry-run used to answer "rule … already
exists"; the forms over HTTP: tests/e2e/test_rule_editor.py)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.gateway_stack import PASSWORDS, gateway, seed_cases  # noqa: F401 - the fixture
from tests.e2e.test_browser import browser, check_labels, log_in, shot, tab_until  # noqa: F401 - the fixture


def test_an_admin_dry_runs_and_saves_a_rule_in_the_browser(gateway, browser):  # noqa: F811
    seed_cases(gateway)  # an NPS 2 and an NPS 9 feedback: the detractor rule matches one
    wait = WebDriverWait(browser, 10)
    log_in(browser, gateway.url, "root", PASSWORDS["admin"])
    wait.until(ec.presence_of_element_located((By.ID, "nav-rules"))).click()
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "a[href='/rules/nps-detractor']"))).click()
    wait.until(ec.presence_of_element_located((By.ID, "edit-rule"))).click()
    editor = wait.until(ec.presence_of_element_located((By.ID, "document")))
    check_labels(browser, "#rule-form")
    reached = tab_until(browser, {"document", "dry-run-since", "save-rule", "dry-run-draft"})
    assert {"document", "dry-run-since", "save-rule", "dry-run-draft"} <= reached
    text = editor.get_attribute("value")
    assert "level: P3" in text
    edited = "# raised: detractors wait too long\n" + text.replace("level: P3", "level: P2")
    browser.execute_script("arguments[0].value = arguments[1]", editor, edited)
    since = browser.find_element(By.ID, "dry-run-since")
    since.clear()
    since.send_keys("60d")

    browser.find_element(By.ID, "dry-run-draft").click()
    wait.until(ec.presence_of_element_located((By.ID, "dry-run-result")))
    assert browser.find_element(By.ID, "dry-matches").text == "1"
    assert browser.find_element(By.ID, "document").get_attribute("value").strip() == edited.strip()
    assert browser.find_element(By.ID, "dry-run-since").get_attribute("value") == "60d"
    shot(browser, "rule-dry-run-en")

    browser.find_element(By.ID, "save-rule").send_keys(Keys.ENTER)  # save, from the keyboard
    wait.until(ec.text_to_be_present_in_element((By.ID, "rule-version"), "2"))
    assert browser.current_url.endswith("/rules/nps-detractor")
    assert "# raised: detractors wait too long" in browser.find_element(By.ID, "rule-definition").text
    assert "v2 · updated · root" in browser.find_element(By.ID, "version-2").text
    shot(browser, "rule-saved-en")
    found = gateway.api("admin", "GET", "/api/v1/rules/nps-detractor").json()
    assert found["rule"]["level"] == "P2" and [v["version"] for v in found["versions"]] == [1, 2]
