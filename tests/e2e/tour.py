"""The console tour's parts: which pages the route table lists, their URLs with real ids,
and the checks run on each page in Chromium (tests/e2e/test_browser_tour.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import yaml
from selenium.webdriver.common.by import By

from services.gateway.routes import ROUTES, Route
from tests.conftest import wait_until
from tests.e2e.board_seed import seed
from tests.e2e.gateway_stack import RULES, feedback

PEOPLE = yaml.safe_load((Path(__file__).resolve().parents[2] / "samples/people.yaml").read_text("utf-8"))
# GET page routes that are no HTML page of their own, and why
NOT_PAGES = {
    "console.static": "CSS and JS assets",
    "console.home": "redirects to /cases",
    "console.queue_live": "the queue's live rows: an HTML fragment the queue page asks for",
    "console.profile_export": "a JSON download",
    "console.dashboard_aspects_csv": "a CSV download",
    "console.dashboard_csv": "a CSV download",
}
# path parameters with several values: each value is a page of its own
EVERY_VALUE = {"board": ("mine", "team", "journey")}
# pages an agent's role may open whose data refuses an agent (services/gateway/boards.py)
AGENT_REFUSED = {"board-journey"}
STORE_COLLAPSE = {
    "id": "store-collapse",
    "name": "门店 NPS 崩盘",
    "level": "P2",
    "owner": {"kind": "team", "id": "cx-care"},
    "channels": ["email"],
    "when": {"field": "attributes.store", "op": "exists"},
    "group": {
        "by": ["attributes.store"],
        "window": "1h",
        "score_below": {"score": "nps", "below": 0, "min_responses": 10},
    },
}


def console_pages() -> list[Route]:
    """Every console HTML page of the route table (the customer's survey has its own link)."""
    return [
        r
        for r in ROUTES
        if r.kind == "page" and r.method == "GET" and not r.own_credential and r.name not in NOT_PAGES
    ]


def page_urls(ids: dict) -> dict[str, tuple[Route, str]]:
    """Each page's short name and URL, path parameters filled from ``ids`` (a route's own
    values under its name win over the shared ones)."""
    pages = {}
    for route in console_pages():
        values = {**ids, **ids.get(route.name, {})}
        names = re.findall(r"<([a-z_]+)>", route.path)
        variants = [{}]
        for name in names:
            options = EVERY_VALUE[name] if name in EVERY_VALUE else (values[name],)
            variants = [{**v, name: o} for v in variants for o in options]
        for v in variants:
            path = route.path
            for name, value in v.items():
                path = path.replace(f"<{name}>", value)
            short = route.name.removeprefix("console.").replace("_", "-")
            pages["-".join([short, *(v[n] for n in names if n in EVERY_VALUE)])] = (route, path)
    return pages


def seed_tour(gw) -> dict:
    """Cases (board_seed: two taken by chen.jie, one resolved), an incident from a store's
    collapsing NPS, and the ids the pages need."""
    gw.rpc.alerts.apply_rules({"rules": [*RULES["rules"], STORE_COLLAPSE]})
    ids = seed(gw)  # the sample agents directory, then the people directory that replaces it
    assert gw.api("admin", "PUT", "/api/v1/people", json=PEOPLE).status_code == 200
    now = datetime.now(UTC).isoformat()
    events = [
        feedback(
            f"tour-{n}",
            nps=1,
            customer=f"S{n}",
            text="排队太久",
            attributes={"store": "SH-01"},
            occurred_at=now,
        )
        for n in range(10)
    ]
    assert gw.api("integration", "POST", "/api/v1/feedback", json=events).status_code == 202
    [incident] = wait_until(lambda: gw.rpc.cases.list_incidents(), timeout=30, message="one incident")
    listing = gw.login("admin").get(gw.url + "/templates").text
    language, template = re.search(r'href="/templates/(zh-CN|en)/([^"?]+)"', listing).groups()
    return {
        "case_id": ids["C2"],
        "customer_id": "C2",
        "rule_id": "nps-detractor",
        "language": language,
        "template": template,
        "console.incident": {"case_id": incident["_id"]},
        "observed": set(incident["group"]["observed"]),  # the group alert's figures' keys
        "cases": list(ids.values()),
        "customers": list(ids),
    }


# Visible controls without a name, out of the tab order, or disabled without a reason.
CONTROLS_SCRIPT = """
const scope = document.querySelector(arguments[0]);
const found = [];
const visible = el => el.checkVisibility({visibilityProperty: true});
const nameOf = el => {
  const aria = (el.getAttribute("aria-label") || "").trim();
  if (aria) return aria;
  const by = el.getAttribute("aria-labelledby");
  const text = id => (document.getElementById(id) || {}).textContent || "";
  if (by) return by.split(/\\s+/).map(text).join(" ").trim();
  if (el.labels && el.labels.length) return Array.from(el.labels).map(l => l.textContent).join(" ").trim();
  if (el.matches("input[type=submit], input[type=button], input[type=reset]")) return (el.value || "").trim();
  if (el.matches("button, a, summary")) return el.textContent.trim();
  return "";
};
const describe = el =>
  el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.name ? "[name=" + el.name + "]" : "");
const selector = "a[href], button, input:not([type=hidden]), select, textarea, summary";
scope.querySelectorAll(selector).forEach(el => {
  if (!visible(el)) return;
  if (!nameOf(el)) found.push("no label: " + describe(el));
  if (el.tabIndex < 0) found.push("not in the tab order: " + describe(el));
  if (el.disabled && !el.getAttribute("title") && !el.getAttribute("aria-describedby"))
    found.push("disabled without a reason: " + describe(el));
  if (!el.disabled) {
    el.focus({preventScroll: true});
    if (document.activeElement !== el) found.push("cannot take the focus: " + describe(el));
  }
});
if (document.activeElement) document.activeElement.blur();  // no focus ring in the screenshot
return found;
"""


def control_problems(driver, scope: str = "main") -> list[str]:
    return driver.execute_script(CONTROLS_SCRIPT, scope)


def status_of(driver) -> int:
    """The HTTP status of the page the browser shows (Navigation Timing)."""
    return driver.execute_script("return performance.getEntriesByType('navigation')[0].responseStatus")


def error_shown(driver) -> str | None:
    errors = driver.find_elements(By.ID, "error-message")
    return errors[0].text if errors else None
