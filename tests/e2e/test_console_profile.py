"""The profile page (体验档案) in Chromium: an admin pages the timeline both ways, every
control of the admin forms is labelled, and a merge is confirmed and done from the page
(the HTTP side of the page and of merge, export and erase:
tests/e2e/test_profile_page_e2e.py)."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import wait_until
from tests.e2e.gateway_stack import PASSWORDS, feedback, gateway  # noqa: F401 - the fixture
from tests.e2e.test_browser import browser, check_labels, log_in, shot  # noqa: F401 - the fixture

EVENTS = [
    {**feedback("p-1", nps=9, customer="P1", text="安装很快"), "occurred_at": "2026-11-20T10:00:00+08:00"},
    {**feedback("p-2", nps=8, customer="P1", text="快递准时"), "occurred_at": "2026-11-22T10:00:00+08:00"},
    {
        **feedback("p-3", nps=2, customer="P1", text="快递三天都没到"),
        "channel": "phone",
        "occurred_at": "2026-11-25T10:00:00+08:00",
    },
]


def _profile(gw, customer_id):
    try:
        return gw.rpc.profiles.get_profile(customer_id)
    except Exception:
        return None


def test_an_admin_pages_the_timeline_and_merges_in_the_browser(gateway, browser):  # noqa: F811
    events = [feedback(f"b-{i}", nps=3 + i, customer="B1", text=f"第{i}次反馈") for i in range(3)]
    events.append(feedback("b-dup", nps=4, customer="B2", text="另一个号码"))
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=events).status_code == 202
    wait_until(lambda: _profile(gateway, "B2") and len(_profile(gateway, "B1")["timeline"]) >= 3)
    wait = WebDriverWait(browser, 10)
    log_in(browser, gateway.url, "root", PASSWORDS["admin"])
    wait.until(ec.presence_of_element_located((By.ID, "queue")))
    browser.get(gateway.url + "/customers/B1?timeline_limit=2")
    wait.until(ec.presence_of_element_located((By.ID, "timeline")))
    first = [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")]
    browser.find_element(By.ID, "timeline-older").click()
    wait.until(ec.presence_of_element_located((By.ID, "timeline-newer")))
    assert [r.text for r in browser.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")] != first
    browser.find_element(By.ID, "timeline-newer").click()
    wait.until(lambda d: not d.find_elements(By.ID, "timeline-newer"))
    check_labels(browser, "#profile-admin")
    shot(browser, "profile-admin")

    # merge B2 into B1: without ticking the confirmation the browser does not submit
    browser.find_element(By.ID, "merge-merged").send_keys("B2")
    browser.find_element(By.ID, "merge-reason").send_keys("同一个人")
    browser.find_element(By.ID, "do-merge").click()
    assert not browser.find_elements(By.ID, "profile-done") and _profile(gateway, "B2")["_id"] == "B2"
    browser.find_element(By.ID, "merge-confirm").send_keys(Keys.SPACE)  # ticked from the keyboard
    browser.find_element(By.ID, "do-merge").click()
    done = wait.until(ec.presence_of_element_located((By.ID, "profile-done")))
    assert (
        done.text == "Merged; the merge is audited." and "B2" in browser.find_element(By.ID, "identity").text
    )
    assert _profile(gateway, "B2")["_id"] == "B1"  # B2 now resolves to B1
