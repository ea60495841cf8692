"""Every console page in real headless Chromium, in zh-CN and in English, as an admin
and as an agent.

The pages come from the route table (``tour.console_pages``: every GET page route but
the assets, the downloads and the live fragment), so a new page is visited without
touching this test; ids come from data the services really hold (cases, a customer, a
rule, an incident, a template). On each page: the answer is 200 and no error page;
every visible link, button and field has a name (a label, an aria-label or its text),
is in the tab order and takes the focus, and none is disabled without a reason; the
fields have labels (``check_labels``); a zh-CN page shows no code the services wrote
(``test_console_codes.leaks``); a screenshot ``tour-<page>-<lang>.png``. An agent
gets 403 on the pages their role may not open.
"""

from __future__ import annotations

import re
from pprint import pformat

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.gateway_stack import PASSWORDS, gateway  # noqa: F401 - the fixture
from tests.e2e.test_browser import browser, check_labels, log_in, shot  # noqa: F401 - the fixture
from tests.e2e.test_console_codes import WORD, codes_in_data, leaks, visible_text
from tests.e2e.tour import (
    AGENT_REFUSED,
    PEOPLE,
    console_pages,
    control_problems,
    error_shown,
    page_urls,
    seed_tour,
    status_of,
)

LANGUAGES = ("zh-CN", "en")


def set_language(driver, language: str) -> None:
    """Switch with the header's select (it submits itself), as a user does."""
    if driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language:
        return
    driver.find_element(By.CSS_SELECTOR, f"#language option[value='{language}']").click()
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    )


def page_problems(driver, language: str, codes: set[str]) -> list[str]:
    """What is wrong with the page the browser shows (empty: nothing)."""
    status = status_of(driver)
    if status != 200 or error_shown(driver) is not None:
        return [f"HTTP {status}: {error_shown(driver)}"]
    found = control_problems(driver, "body")
    if driver.find_elements(By.CSS_SELECTOR, "main input:not([type=hidden]), main select, main textarea"):
        try:
            check_labels(driver, "main")
        except AssertionError as e:
            found.append(f"check_labels: {e}")
    if language == "zh-CN":
        # text areas and <pre> hold data as written (a rule's YAML and diffs, a template)
        page = re.sub(r"<(textarea|pre)\b.*?</\1>", " ", driver.page_source, flags=re.S)
        text = " ".join(visible_text(page).split())
        for code in sorted(leaks(page, codes)):
            at = re.search(WORD.format(re.escape(code)), text).start()
            found.append(f"code shown: {code} in …{text[max(0, at - 40) : at + 40]}…")
    return found


def tour(driver, url: str, pages: dict, role: str, codes: set[str]) -> dict:
    """Visit each page in each language; the problems found per page, and the pages
    refused (the status the browser got)."""
    problems, refused = {}, {}
    for language in LANGUAGES:
        driver.get(url + "/cases")  # a page with the header's language select
        set_language(driver, language)
        for name, (route, path) in pages.items():
            driver.get(url + path)
            if role not in route.roles or (role == "agent" and name in AGENT_REFUSED):
                refused[name] = status_of(driver)
                continue
            found = page_problems(driver, language, codes)
            if found:
                problems[f"{role} {name} {language}"] = found
            prefix = "tour" if role == "admin" else "tour-agent"
            shot(driver, f"{prefix}-{name}-{language}")
    return {"problems": problems, "refused": refused}


def test_every_console_page_in_both_languages(gateway, browser):  # noqa: F811
    ids = seed_tour(gateway)
    pages = page_urls(ids)
    assert {route.name for route, _ in pages.values()} == {r.name for r in console_pages()}
    assert len(pages) >= 20 and "incident" in pages and "board-team" in pages
    # team ids are names the directory gives, shown as ids as people's are ("billing" is a
    # team and a touchpoint: the touchpoint is still looked for through "delivery")
    codes = codes_in_data(gateway, ids["cases"], ids["customers"]) - {t["id"] for t in PEOPLE["teams"]}
    codes |= ids["observed"] | {"applied", "created", "updated", "enabled", "disabled"}  # rule versions
    login = pages.pop("login-form")
    for language in LANGUAGES:  # before signing in
        browser.get(f"{gateway.url}{login[1]}?lang={language}")
        assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        assert page_problems(browser, language, codes) == []
        shot(browser, f"tour-login-{language}")

    log_in(browser, gateway.url, "root", PASSWORDS["admin"])
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "queue"))
    admin = tour(browser, gateway.url, pages, "admin", codes)
    assert admin == {"problems": {}, "refused": {}}, pformat(admin)

    browser.delete_all_cookies()
    log_in(browser, gateway.url, "chen.jie", PASSWORDS["agent"])
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "queue"))
    agent = tour(browser, gateway.url, pages, "agent", codes)
    assert agent["problems"] == {}, pformat(agent)
    not_for_agents = {n for n, (r, _) in pages.items() if "agent" not in r.roles} | AGENT_REFUSED
    assert agent["refused"] == {name: 403 for name in not_for_agents}
    assert {"people", "tokens", "templates", "template", "rule-new", "rule-edit", "incidents"} <= set(
        agent["refused"]
    )


def test_the_checks_find_what_is_wrong(browser):  # noqa: F811
    page = (
        "<main><label for='a'>Name</label><input id='a'><input id='b'>"
        "<button id='c' tabindex='-1'>Go</button><button id='d' disabled>Send</button>"
        "<button id='e' disabled title='nothing selected'>Apply</button><a href='/x'></a>"
        "<details><summary>More</summary><input id='hidden'></details></main>"
    )
    browser.get("data:text/html;charset=utf-8," + page)
    assert sorted(control_problems(browser)) == [
        "disabled without a reason: button#d",
        "no label: a",
        "no label: input#b",
        "not in the tab order: button#c",
    ]
