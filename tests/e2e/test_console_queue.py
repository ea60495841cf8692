"""The queue in headless Chromium and over HTTP, on the whole running stack.

An agent sees the saved views with their counts, searches by customer and text,
filters by level and status, pages
forward and back, acknowledges two cases with one reason in bulk, takes a case,
drives the queue with the keyboard and watches a new case arrive (live rows,
marked new and breaching soon). Over HTTP: a bulk action does per case only what
the single action allows (a case the agent may not see is refused, the others
done), a bad bulk form names the field, and "take it" refuses when the owner
changed since the agent looked.
"""

from __future__ import annotations

import yaml
from nameko import config
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import wait_until
from tests.e2e.gateway_stack import SLA_SAMPLE, csrf_of, feedback, gateway  # noqa: F401 - the fixture
from tests.e2e.test_browser import PASSWORDS, browser, check_labels, log_in, shot  # noqa: F401 - the fixture

TEAM_CASES = 5


def tight_sla(gw):
    """P3 cases due 30 minutes after opening, around the clock: breaching soon at once."""
    policy = yaml.safe_load(SLA_SAMPLE.read_text(encoding="utf-8"))
    policy["levels"]["P3"] = {"acknowledge_minutes": 30, "resolve_minutes": 600, "calendar": "24x7"}
    gw.rpc.cases.apply_sla_policy(policy)


def seed(gw, n=TEAM_CASES):
    """``n`` cases for the agent's team (customers Q1…Qn) and one for wang.lei (refund)."""
    events = [feedback(f"q-{i}", nps=2, customer=f"Q{i}", text=f"第{i}单快递没到") for i in range(1, n + 1)]
    events.append(feedback("q-refund", nps=9, customer="QR", text="我要退款"))
    assert gw.api("integration", "POST", "/api/v1/feedback", json=events).status_code == 202
    rows = wait_until(lambda: len(gw.rpc.cases.list_cases()) == n + 1 and gw.rpc.cases.list_cases())
    return {c["customer"]["id"]: c["_id"] for c in rows}


def rows(driver) -> list[str]:
    """The case ids of the queue's rows, read at once (live updates replace the rows)."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#queue-rows tr')).map(r => r.dataset.case)"
    )


def classes(driver) -> dict[str, str]:
    return driver.execute_script(
        "return Object.fromEntries(Array.from(document.querySelectorAll('#queue-rows tr'))"
        ".map(r => [r.dataset.case, r.className]))"
    )


def selected(driver) -> set[str]:
    return set(
        driver.execute_script(
            "return Array.from(document.querySelectorAll('input[name=case_id]:checked')).map(b => b.value)"
        )
    )


def fresh(driver, act, tries: int = 5):
    """``act(driver)`` again when a live update replaced the element between finding it
    and using it (the queue re-renders its rows every CONSOLE_POLL_SECONDS)."""
    for attempt in range(tries):
        try:
            return act(driver)
        except StaleElementReferenceException:
            if attempt == tries - 1:
                raise


def text_of(driver, element_id: str) -> str:
    return fresh(driver, lambda d: d.find_element(By.ID, element_id).text)


def count(driver, view) -> int:
    return int(text_of(driver, f"count-{view}"))


def test_an_agent_works_the_queue_in_the_browser(gateway, browser):  # noqa: F811
    tight_sla(gateway)
    ids = seed(gateway)
    wait = WebDriverWait(browser, 10)
    with config.patch({"CONSOLE_POLL_SECONDS": 1}):
        log_in(browser, gateway.url, "chen.jie", PASSWORDS["agent"])
        wait.until(ec.presence_of_element_located((By.ID, "queue")))
        # saved views and their counts; the refund case is wang.lei's: not visible
        assert count(browser, "open") == TEAM_CASES == count(browser, "team") == len(rows(browser))
        assert count(browser, "mine") == 0 and count(browser, "unassigned") == 0
        assert text_of(browser, "queue-total") == f"共 {TEAM_CASES} 个工单"
        assert ids["QR"] not in rows(browser)
        assert all("breaching" in c for c in classes(browser).values())
        for scope in ("#queue-filters", "#bulk", "#queue"):
            check_labels(browser, scope)
        shot(browser, "queue-views")

        # search by customer id
        browser.find_element(By.ID, "q").send_keys("Q3", Keys.ENTER)
        wait.until(lambda d: rows(d) == [ids["Q3"]])
        assert text_of(browser, "queue-total") == "共 1 个工单"
        browser.find_element(By.ID, "q").clear()
        browser.find_element(By.ID, "q").send_keys("第4单", Keys.ENTER)  # the comment's text
        wait.until(lambda d: rows(d) == [ids["Q4"]])

        # filters: a level with no case, then the status the cases are in
        browser.get(gateway.url + "/cases")
        browser.find_element(By.CSS_SELECTOR, "#level option[value='P1']").click()
        browser.find_element(By.ID, "filter-submit").click()
        wait.until(ec.presence_of_element_located((By.ID, "queue-empty")))
        assert text_of(browser, "queue-total") == "共 0 个工单"
        browser.find_element(By.CSS_SELECTOR, "#level option[value='']").click()
        browser.find_element(By.CSS_SELECTOR, "#status option[value='assigned']").click()
        browser.find_element(By.ID, "filter-submit").click()
        wait.until(lambda d: len(rows(d)) == TEAM_CASES)
        assert "status=assigned" in browser.current_url

        # paging forward and back
        browser.get(gateway.url + "/cases?limit=2")
        first = rows(browser)
        assert len(first) == 2 and not browser.find_elements(By.ID, "previous-page")
        browser.find_element(By.ID, "next-page").click()
        wait.until(lambda d: d.find_elements(By.ID, "previous-page"))
        second = rows(browser)
        assert len(second) == 2 and not set(first) & set(second)
        assert text_of(browser, "queue-showing") == "第 3–4 个"
        browser.find_element(By.ID, "previous-page").click()
        wait.until(lambda d: not d.find_elements(By.ID, "previous-page"))
        assert rows(browser) == first

        # bulk: acknowledge the two cases of the first page with one reason
        for case_id in first:
            fresh(browser, lambda d, c=case_id: d.find_element(By.ID, f"select-{c}").click())
        browser.find_element(By.CSS_SELECTOR, "#bulk-action option[value='acknowledge']").click()
        assert not browser.find_element(By.ID, "bulk-assignee").is_displayed()  # assign's fields only
        browser.find_element(By.ID, "bulk-reason").send_keys("批量确认")
        browser.find_element(By.ID, "bulk-submit").click()
        wait.until(ec.presence_of_element_located((By.ID, "bulk-outcomes")))
        assert browser.find_element(By.ID, "bulk-summary").text == "确认接单: 2 个成功，0 个未完成"
        shot(browser, "queue-bulk")
        for case_id in first:
            case = gateway.rpc.cases.get_case(case_id)
            assert case["acknowledged"] and case["audit"][-1]["why"] == "批量确认"
        browser.find_element(By.ID, "back-to-queue").click()
        wait.until(ec.presence_of_element_located((By.ID, "queue")))
        assert browser.current_url == gateway.url + "/cases?limit=2"  # the page the agent was on
        browser.get(gateway.url + "/cases")

        # take it: the case is mine, with a confirmation; each row's button says which case
        take = f"take-button-{ids['Q5']}"
        label = fresh(browser, lambda d: d.find_element(By.ID, take).get_attribute("aria-label"))
        assert label == f"我来处理 {ids['Q5']}"
        fresh(browser, lambda d: d.find_element(By.ID, take).click())
        wait.until(ec.presence_of_element_located((By.ID, "action-done")))
        assert browser.find_element(By.ID, "action-done").text == "操作已完成：我来处理"
        assert browser.find_element(By.ID, "case-owner").text == "chen.jie"
        browser.find_element(By.ID, "nav-queue").click()
        wait.until(lambda d: count(d, "mine") == 1)

        # the keyboard: j moves to a row, x selects it, / goes to the search box
        body = browser.find_element(By.TAG_NAME, "body")
        body.send_keys("j")
        [current] = [case_id for case_id, c in classes(browser).items() if "is-current" in c]
        assert browser.switch_to.active_element.get_attribute("class") == "case-link"
        browser.switch_to.active_element.send_keys("x")
        assert selected(browser) == {current}
        browser.switch_to.active_element.send_keys("/")
        assert browser.switch_to.active_element.get_attribute("id") == "q"

        # live: a new case appears without a reload, marked new and breaching soon
        before = set(rows(browser))
        event = feedback("q-live", nps=1, customer="Q9", text="又没到")
        assert gateway.api("integration", "POST", "/api/v1/feedback", json=event).status_code == 202
        wait.until(lambda d: [i for i, c in classes(d).items() if "is-new" in c])
        [(new_id, new_class)] = [(i, c) for i, c in classes(browser).items() if "is-new" in c]
        assert new_id not in before and "breaching" in new_class
        assert text_of(browser, "queue-news") == "有 1 个新工单"
        assert count(browser, "open") == TEAM_CASES + 1
        assert text_of(browser, "queue-showing") == f"第 1–{TEAM_CASES + 1} 个"
        assert selected(browser) == {current}  # the selection made before the update is kept
        shot(browser, "queue-live")

        # the current row stayed the same case through the update; j then k come back to it, o opens it
        assert [i for i, c in classes(browser).items() if "is-current" in c] == [current]
        body.send_keys("j")
        browser.switch_to.active_element.send_keys("k")
        assert [i for i, c in classes(browser).items() if "is-current" in c] == [current]
        browser.switch_to.active_element.send_keys("o")
        wait.until(ec.text_to_be_present_in_element((By.ID, "case-id"), current))


def test_bulk_actions_do_per_case_only_what_the_single_action_allows(gateway):  # noqa: F811
    ids = seed(gateway, n=2)
    agent = gateway.login("agent")
    token = csrf_of(agent.get(gateway.url + "/cases").text)
    mine, hidden = ids["Q1"], ids["QR"]  # QR: wang.lei's, not visible to the agent

    def bulk(session, **form):
        data = {"csrf_token": token, **form}
        return session.post(gateway.url + "/cases/bulk", data=data, allow_redirects=False)

    r = bulk(agent, action="acknowledge", case_id=[mine, hidden], reason="一起确认")
    assert r.status_code == 200
    assert f'class="outcome-done" data-case="{mine}"' in r.text
    assert f'class="outcome-404" data-case="{hidden}"' in r.text  # as the single action: 404
    assert gateway.rpc.cases.get_case(mine)["acknowledged"]
    assert not gateway.rpc.cases.get_case(hidden)["acknowledged"]

    # resolve needs a root cause; assign an owner; close is not a bulk action
    r = bulk(agent, action="resolve", case_id=[mine])
    assert r.status_code == 400 and "body.root_cause" in r.text
    r = bulk(agent, action="assign", case_id=[mine], assignee_kind="person", assignee_id="chen.jie")
    assert 'class="outcome-400"' in r.text  # it has an owner: a reassignment needs a reason
    r = bulk(agent, action="close", case_id=[mine])
    assert r.status_code == 400 and "action" in r.text
    assert bulk(agent, action="acknowledge").status_code == 400  # nothing selected
    no_token = agent.post(gateway.url + "/cases/bulk", data={"action": "acknowledge", "case_id": mine})
    assert no_token.status_code == 403

    # take it, unless the owner changed since the agent looked
    stale = agent.post(
        gateway.url + f"/cases/{mine}/take", data={"csrf_token": token, "seen": ""}, allow_redirects=False
    )
    assert stale.status_code == 409 and "负责人已变更" in stale.text
    taken = agent.post(
        gateway.url + f"/cases/{mine}/take",
        data={"csrf_token": token, "seen": "team:cx-care"},
        allow_redirects=False,
    )
    assert taken.status_code == 303 and taken.headers["Location"] == f"/cases/{mine}?done=take"
    assert gateway.rpc.cases.get_case(mine)["assignee"] == {"kind": "person", "id": "chen.jie"}
    hidden_take = agent.post(
        gateway.url + f"/cases/{hidden}/take", data={"csrf_token": token, "seen": "person:wang.lei"}
    )
    assert hidden_take.status_code == 404
