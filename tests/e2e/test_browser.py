"""The console in real headless Chromium (Debian's chromium + chromium-driver, selenium).

Log in as an agent, see the queue, open a case, see why it fired, switch to
English, open the customer's profile, see the dashboard, watch the SLA
countdown, assign the case to themself with a reason and resolve it, and see
the dashboard change; the case page's forms are labelled and reachable by
keyboard; an integration cannot log in.
Screenshots of each page are kept in var/test-artifacts/browser/.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import wait_until
from tests.e2e.gateway_stack import PASSWORDS, feedback, gateway  # noqa: F401 - the fixture

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
)


ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts" / "browser"


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.fail("chromium and chromium-driver are required (scripts/lib.sh installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.add_argument("--window-size=1280,900")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.shots = ARTIFACTS  # kept after the run (var/ is not committed)
    yield driver
    driver.quit()


def shot(driver, name):
    driver.save_screenshot(str(driver.shots / f"{name}.png"))


def log_in(driver, url, username, password):
    driver.get(url + "/login")
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login-submit").click()


def check_login_form_is_accessible(driver, url):
    """Every field has a label, and the keyboard alone reaches and submits the form."""
    driver.get(url + "/login")
    for field in driver.find_elements(By.CSS_SELECTOR, "input:not([type=hidden]), select"):
        labels = driver.find_elements(By.CSS_SELECTOR, f"label[for='{field.get_attribute('id')}']")
        assert labels and labels[0].text.strip(), field.get_attribute("name")
    driver.find_element(By.ID, "username").click()
    assert driver.switch_to.active_element.get_attribute("id") == "username"
    driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "password"
    driver.switch_to.active_element.send_keys(Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "login-submit"
    shot(driver, "login")


def check_labels(driver, scope):
    """Every visible control in ``scope`` (a CSS selector) has a label with text."""
    controls = driver.find_elements(
        By.CSS_SELECTOR, f"{scope} input:not([type=hidden]), {scope} select, {scope} textarea"
    )
    assert controls
    for field in controls:
        name = field.get_attribute("aria-label")
        labels = driver.find_elements(By.CSS_SELECTOR, f"label[for='{field.get_attribute('id')}']")
        assert (name and name.strip()) or (labels and labels[0].get_attribute("textContent").strip()), (
            field.get_attribute("id")
        )


def tab_until(driver, wanted: set, start="nav-queue", presses=120) -> set:
    """Press Tab from ``start`` until every id in ``wanted`` had the focus; the ids reached."""
    driver.find_element(By.ID, start).send_keys(Keys.NULL)  # focus starts in the header
    reached = set()
    for _ in range(presses):
        driver.switch_to.active_element.send_keys(Keys.TAB)
        reached.add(driver.switch_to.active_element.get_attribute("id"))
        if wanted <= reached:
            break
    return reached


def check_case_forms_are_accessible(driver):
    """Every control of the case page's forms has a label; Tab alone reaches each action's
    button, Enter opens its form and Tab then reaches the form's submit button."""
    check_labels(driver, "#actions")
    summaries = {s.get_attribute("id") for s in driver.find_elements(By.CSS_SELECTOR, "#actions summary")}
    assert summaries
    reached = tab_until(driver, summaries)
    assert summaries <= reached, summaries - reached
    driver.find_element(By.ID, "summary-comment").send_keys(Keys.ENTER)  # the keyboard opens it
    assert driver.find_element(By.ID, "open-comment").get_attribute("open") is not None
    reached = tab_until(driver, {"comment-text", "do-comment"}, start="summary-comment", presses=6)
    assert {"comment-text", "do-comment"} <= reached
    driver.find_element(By.ID, "summary-comment").send_keys(Keys.ENTER)  # and closes it


def test_agent_works_a_case_in_the_browser(gateway, browser):  # noqa: F811
    r = gateway.api("integration", "POST", "/api/v1/feedback", json=feedback("browser-1", nps=2))
    assert r.status_code == 202
    wait_until(lambda: gateway.rpc.cases.list_cases(), message="the case")
    wait = WebDriverWait(browser, 10)

    check_login_form_is_accessible(browser, gateway.url)
    log_in(browser, gateway.url, "chen.jie", PASSWORDS["agent"])
    wait.until(ec.presence_of_element_located((By.ID, "queue")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "工单队列"
    shot(browser, "queue")
    browser.find_element(By.CSS_SELECTOR, "a.case-link").click()

    wait.until(ec.presence_of_element_located((By.ID, "trace")))
    trace = browser.find_element(By.ID, "trace").text
    assert "NPS ≤ 6" in trace and "✓" in trace
    assert "触发原因" in browser.find_element(By.ID, "why").text
    assert browser.find_element(By.ID, "trigger").text.endswith("NPS为 2（条件：≤ 6）")
    shot(browser, "case-zh")

    # the select submits itself (console.js); the page comes back in English
    browser.find_element(By.CSS_SELECTOR, "#language option[value='en']").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "why"), "Why it fired"))
    assert "快递三天都没到" in browser.find_element(By.ID, "feedback").text
    shot(browser, "case-en")

    browser.find_element(By.ID, "profile-link").click()
    wait.until(ec.presence_of_element_located((By.ID, "identity")))
    assert browser.find_element(By.ID, "profile-name").text == "王芳"
    assert "Most-triggered alerts" in browser.page_source and "nps-detractor × 1" in browser.page_source
    shot(browser, "profile-en")

    browser.find_element(By.ID, "nav-dashboard").click()
    wait.until(ec.presence_of_element_located((By.ID, "chart-alerts-level")))
    assert browser.find_element(By.ID, "overall-resolved").text == "0"
    assert {browser.find_element(By.ID, f).get_attribute("type") for f in ("since", "until")} == {"date"}
    shot(browser, "dashboard-before")

    # back to the case: the SLA countdown ticks, then assign it to me with a reason and resolve it
    browser.find_element(By.ID, "nav-queue").click()
    countdown = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".countdown[data-deadline]")))
    wait.until(lambda d: ":" in countdown.text)  # console.js replaced the server's deadline text
    browser.find_element(By.CSS_SELECTOR, "a.case-link").click()
    wait.until(ec.presence_of_element_located((By.ID, "form-reassign")))
    assert not browser.find_element(By.ID, "form-reassign").is_displayed()  # behind its button
    check_case_forms_are_accessible(browser)
    browser.find_element(By.ID, "summary-reassign").click()
    browser.find_element(By.CSS_SELECTOR, "#reassign-kind option[value='person']").click()
    browser.find_element(By.ID, "reassign-id").send_keys("chen.jie")
    browser.find_element(By.ID, "reassign-reason").send_keys("我熟悉这位客户")
    browser.find_element(By.ID, "do-reassign").click()
    # the form posts and the browser loads the case again: wait for the new page's
    # confirmation before reading it (the old page's nodes vanish while it loads)
    wait.until(ec.presence_of_element_located((By.ID, "action-done")))
    wait.until(ec.text_to_be_present_in_element((By.ID, "audit"), "我熟悉这位客户"))
    assert browser.find_element(By.ID, "action-done").text == "Done: Reassign"  # in English now
    assert "reassigned" in browser.find_element(By.ID, "audit").text
    shot(browser, "case-assigned")
    browser.find_element(By.ID, "summary-resolve").click()
    assert (
        browser.find_element(By.CSS_SELECTOR, "#resolve-root-cause option[value='delivery_delay']").text
        == "delivery delay"
    )
    browser.find_element(By.CSS_SELECTOR, "#resolve-root-cause option[value='delivery_delay']").click()
    browser.find_element(By.ID, "resolve-fcr").click()
    browser.find_element(By.ID, "resolve-summary").send_keys("已补发")
    browser.find_element(By.ID, "do-resolve").click()
    wait.until(ec.presence_of_element_located((By.ID, "form-reopen")))
    assert browser.find_element(By.ID, "case-status").text == "resolved"
    assert browser.find_element(By.ID, "resolution-root-cause").text == "delivery delay"
    assert browser.find_element(By.ID, "resolution-summary").text == "已补发"
    shot(browser, "case-resolved")

    browser.find_element(By.ID, "nav-dashboard").click()
    wait.until(ec.presence_of_element_located((By.ID, "chart-alerts-level")))
    assert browser.find_element(By.ID, "overall-resolved").text == "1"
    assert browser.find_element(By.ID, "overall-fcr").text == "100.0%"
    shot(browser, "dashboard-after")


def test_an_integration_cannot_log_in_to_the_console(gateway, browser):  # noqa: F811
    log_in(browser, gateway.url, "survey-app", gateway.tokens["integration"])
    error = WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.ID, "login-error")))
    assert error.text == "用户名或密码错误。"
    browser.get(gateway.url + "/cases")
    assert browser.current_url.startswith(gateway.url + "/login")
