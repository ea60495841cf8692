"""The profile page (体验档案) on the running stack: 30/90-day scores with their trend,
contacts per channel, what the comments are about and their top terms, a paged
timeline with translated labels and links to the cases; the API pages the timeline
the same way (``timeline_offset``); admins export, merge and erase with confirmation
(over HTTP, and a merge in Chromium from the keyboard-opened form)."""

from __future__ import annotations

import re

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import wait_until
from tests.e2e.gateway_stack import PASSWORDS, feedback, gateway  # noqa: F401 - the fixture
from tests.e2e.test_browser import browser, check_labels, log_in, shot  # noqa: F401 - the fixture
from tests.e2e.test_console_codes import visible_text

EVENTS = [
    {**feedback("p-1", nps=9, customer="P1", text="安装很快"), "occurred_at": "2026-11-20T10:00:00+08:00"},
    {**feedback("p-2", nps=8, customer="P1", text="快递准时"), "occurred_at": "2026-11-22T10:00:00+08:00"},
    {
        **feedback("p-3", nps=2, customer="P1", text="快递三天都没到"),
        "channel": "phone",
        "occurred_at": "2026-11-25T10:00:00+08:00",
    },
]


def test_the_profile_page_shows_scores_contacts_terms_and_a_paged_timeline(gateway):  # noqa: F811
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=EVENTS).status_code == 202
    wait_until(lambda: gateway.rpc.cases.list_cases(customer="P1"), message="the case")
    entries = lambda: gateway.rpc.profiles.get_profile("P1")["timeline"]  # noqa: E731
    wait_until(lambda: len(entries()) >= 5, message="feedback, alert and case on the timeline")
    total = len(entries())
    s = gateway.login("agent")

    page = s.get(gateway.url + "/customers/P1").text
    text = visible_text(page)
    assert re.search(r"NPS\s+2\b", text)  # the latest score, then the 30- and 90-day averages
    assert "近 30 天平均" in text and "近 90 天平均" in text
    contacts = visible_text(page.split('id="contacts"')[1].split("</section>")[0])
    assert re.search(r"微信\s+2\b", contacts) and re.search(r"电话\s+1\b", contacts)
    assert "物流配送 ×" in text  # what the comments are about, translated
    assert 'id="top-terms"' in page and "快递 × 2" in text
    assert "客户反馈" in text and "创建工单" in text  # timeline kinds translated
    chart = page.split('id="figure-nps"')[1].split("</figure>")[0]  # one chart per score, labelled
    assert 'role="img"' in chart and chart.count("<circle") == 3 and "NPS 近 90 天每次评分" in chart
    case_id = gateway.rpc.cases.list_cases(customer="P1")[0]["_id"]
    assert f'href="/cases/{case_id}"' in page  # timeline entries link their case

    first = s.get(gateway.url + "/customers/P1?timeline_limit=2").text
    assert first.count('<tr class="timeline-') == 2 and 'id="timeline-newer"' not in first
    older = re.search(r'id="timeline-older" href="([^"]+)"|href="([^"]+)" id="timeline-older"', first)
    link = (older.group(1) or older.group(2)).replace("&amp;", "&")
    assert link == "/customers/P1?timeline_limit=2&timeline_offset=2"
    second = s.get(gateway.url + link).text
    assert second.count('<tr class="timeline-') == min(2, total - 2) and 'id="timeline-newer"' in second

    api = gateway.api("agent", "GET", "/api/v1/profiles/P1?timeline_limit=2&timeline_offset=2").json()
    assert [e["_id"] for e in api["timeline"]] == [e["_id"] for e in entries()[2:4]]
    bad = gateway.api("agent", "GET", "/api/v1/profiles/P1?timeline_offset=-1")
    assert bad.status_code == 400 and bad.json()["error"]["errors"][0]["field"] == "query.timeline_offset"


def test_admins_export_merge_and_erase_with_confirmation_and_audit(gateway):  # noqa: F811
    events = [
        feedback("m-1", nps=9, customer="M1", text="很好"),
        feedback("m-2", nps=3, customer="M2", text="还行"),
    ]
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=events).status_code == 202
    for customer in ("M1", "M2"):
        wait_until(lambda c=customer: _profile(gateway, c), message=f"the profile of {customer}")
    admin, agent = gateway.login("admin"), gateway.login("agent")
    page = admin.get(gateway.url + "/customers/M1").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert 'id="form-merge"' in page and 'id="form-erase"' in page
    assert 'id="form-merge"' not in agent.get(gateway.url + "/customers/M1").text  # admins only

    export = admin.get(gateway.url + "/customers/M1/export")
    assert export.status_code == 200 and export.headers["Content-Disposition"].endswith('"customer-M1.json"')
    assert export.json()["profile"]["_id"] == "M1"
    assert agent.get(gateway.url + "/customers/M1/export", allow_redirects=False).status_code == 403

    def post(path, **form):
        return admin.post(gateway.url + path, data={"csrf_token": token, **form}, allow_redirects=False)

    refused = post("/customers/M1/merge", merged="M2", confirm="M3", reason="同一手机号")
    assert (
        refused.status_code == 400 and "type the merged customer id again" in refused.text
    )  # admin: English
    assert _profile(gateway, "M2")["_id"] == "M2"  # nothing merged
    merged = post("/customers/M1/merge", merged="M2", confirm="M2", reason="同一手机号")
    assert merged.status_code == 303 and merged.headers["Location"] == "/customers/M1?done=merge"
    page = admin.get(gateway.url + merged.headers["Location"]).text
    assert "Merged." in page and "M2" in visible_text(page.split('id="identity"')[1].split("</section>")[0])
    assert "同一手机号" in admin.get(gateway.url + "/customers/M1/export").text  # who and why, kept

    assert post("/customers/M1/erase", confirm="M2", request_ref="DSR-1").status_code == 400
    erased = post("/customers/M1/erase", confirm="M1", request_ref="DSR-1")
    assert erased.status_code == 303 and erased.headers["Location"] == "/customers/M1?done=erase"
    assert "Personal data erased." in admin.get(gateway.url + erased.headers["Location"]).text
    assert _profile(gateway, "M1")["erased"] is True
    assert "DSR-1" in admin.get(gateway.url + "/customers/M1/export").text


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
    check_labels(browser, "#admin")
    shot(browser, "profile-admin")

    # merge B2 into B1 from the keyboard-opened form, confirmed by typing the id twice
    browser.find_element(By.ID, "summary-merge").send_keys(Keys.ENTER)
    browser.find_element(By.ID, "merge-merged").send_keys("B2")
    browser.find_element(By.ID, "merge-confirm").send_keys("B2")
    browser.find_element(By.ID, "merge-reason").send_keys("同一个人", Keys.ENTER)
    done = wait.until(ec.presence_of_element_located((By.ID, "action-done")))
    assert done.text == "Merged." and "B2" in browser.find_element(By.ID, "identity").text
    assert _profile(gateway, "B2")["_id"] == "B1"  # B2 now resolves to B1
