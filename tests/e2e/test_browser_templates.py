"""The template editor in real headless Chromium with real SMTP: an admin reaches it from
the header, previews a draft (a broken one shows the line), saves it as a new version and
sends it to themselves as a test, which arrives in the mailbox (aiosmtpd)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import wait_until
from tests.e2e.gateway_stack import PASSWORDS, gateway  # noqa: F401 - the fixture
from tests.e2e.template_people import ROOT_EMAIL, save_directory_with_root
from tests.e2e.test_browser import browser, log_in, shot  # noqa: F401 - the fixture
from tests.e2e.test_browser_people import labelled

NAME = "en/alert_raised.subject.j2"
DRAFT = "[{{ level }}] Browser {{ alert_id }}"


def fill(driver, text: str) -> None:
    editor = driver.find_element(By.ID, "source")
    driver.execute_script("arguments[0].value = arguments[1]", editor, text)


def press(driver, wait, button: str, appears: str) -> None:
    driver.find_element(By.ID, button).click()
    wait.until(ec.presence_of_element_located((By.ID, appears)))


def test_an_admin_previews_saves_and_test_sends_a_template(gateway, browser, smtp_sink):  # noqa: F811
    wait = WebDriverWait(browser, 15)
    save_directory_with_root(gateway)
    log_in(browser, gateway.url, "root", PASSWORDS["admin"])
    wait.until(ec.presence_of_element_located((By.ID, "nav-templates")))
    browser.find_element(By.ID, "nav-templates").click()
    wait.until(ec.presence_of_element_located((By.ID, "templates")))
    shot(browser, "templates-en")
    browser.find_element(By.LINK_TEXT, NAME).click()
    wait.until(ec.presence_of_element_located((By.ID, "template-form")))
    labelled(
        browser, "#template-form textarea, #template-form select, #template-form input:not([type=hidden])"
    )

    fill(browser, "ok\n{{ level|nope }}")
    press(browser, wait, "template-preview", "preview-errors")
    assert "line 2: No filter named 'nope'" in browser.find_element(By.ID, "preview-errors").text

    fill(browser, DRAFT)
    press(browser, wait, "template-preview", "preview-title")
    assert browser.find_element(By.ID, "preview-title").text == "[P2] Browser AL-7D1E22C0"
    assert browser.find_element(By.ID, "source").get_attribute("value") == DRAFT  # the draft stays
    assert "Open the case" in browser.find_element(By.ID, "preview-html").get_attribute("srcdoc")  # HTML
    shot(browser, "template-preview-en")

    browser.find_element(By.ID, "reason").send_keys("shorter subject")
    press(browser, wait, "template-save", "template-done")
    assert "version 1" in browser.find_element(By.ID, "template-state").text.lower()
    assert "shorter subject" in browser.find_element(By.ID, "template-versions").text

    press(browser, wait, "template-test", "test-outcome")
    assert browser.find_element(By.ID, "test-outcome").text.startswith("Test message sent")
    shot(browser, "template-test-sent-en")
    [mail] = wait_until(
        lambda: [m for m in smtp_sink.messages() if m["To"] == ROOT_EMAIL], message="the test"
    )
    assert mail["Subject"] == "[测试 TEST] [P2] Browser AL-7D1E22C0"

    browser.find_element(By.ID, "nav-templates").click()
    wait.until(ec.presence_of_element_located((By.ID, "templates")))
    browser.find_element(By.CSS_SELECTOR, "#language option[value='zh-CN']").click()  # console.js submits
    wait.until(ec.text_to_be_present_in_element((By.ID, "nav-templates"), "通知模板"))
    row = browser.find_element(By.ID, "tpl-en-alert_raised-subject-j2").text
    assert "预警" in row and "已覆盖" in row and "root" in row  # kind, state, who
    shot(browser, "templates-zh")
