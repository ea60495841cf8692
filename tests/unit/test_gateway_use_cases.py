"""The gateway's use-case modules (cases, profiles, alert_rules, dashboard) against fake
backends: which RPCs they make, what they leave out, how refusals become answers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from nameko.exceptions import RemoteError
from werkzeug.test import EnvironBuilder

from services.common.rpc import PAGE_MAX
from services.gateway import alert_rules, cases, dashboard, profiles
from services.gateway.errors import HttpError, Redirect
from services.gateway.gate import Principal
from textanalysis.text import ASPECTS

AGENT = {"id": "chen.jie", "role": "agent", "teams": ["logistics"], "language": "en"}
OWNER = {"id": "zhao.min", "role": "owner", "teams": [], "language": "en"}
ADMIN = {"id": "root", "role": "admin", "teams": [], "language": "en"}


class Backend:
    """A service proxy: each RPC is recorded and answered by ``answers[name](*args, **kwargs)``."""

    def __init__(self, calls: list, service: str, answers: dict):
        self._calls, self._service, self._answers = calls, service, answers

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self._calls.append((f"{self._service}.{name}", args, kwargs))
            answer = self._answers[name]
            return answer(*args, **kwargs) if callable(answer) else answer

        return call


NO_PLAYBOOKS = {"suggestions": []}  # cases.suggest_playbooks: none fit (the case page asks)


class Services:
    def __init__(self, **backends: dict):
        self.calls: list = []
        for name, answers in backends.items():
            setattr(self, name, Backend(self.calls, name, answers))

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]


def request(query_string=""):
    return EnvironBuilder(path="/api/v1/cases", query_string=query_string).get_request()


def principal(user=AGENT):
    return Principal(user, "session", {"_id": "s1", "csrf": "t", "language": "en"})


def case(case_id, level="P2", assignee=None, due=None, status="assigned"):
    clocks = {"resolve": {"state": "running", "due": due}} if due else {}
    return {
        "_id": case_id,
        "level": level,
        "status": status,
        "assignee": assignee,
        "sla": {"clocks": clocks},
        "customer": {"id": "C42", "name": "王芳", "tier": "standard"},
        "opened_at": "2026-11-20T10:00:00+00:00",
        "rule": {"id": "late-delivery", "name": "Late delivery", "version": 1},
        "event": {"channel": "wechat", "touchpoint": "delivery", "scores": {"nps": 2}, "text": "x"},
    }


def page_query(**q):
    return {"scope": "all", "sort": "urgency", "limit": 50, "offset": 0, **q}


# ------------------------------------------------------------------- cases
def test_a_team_scope_without_teams_is_empty_and_asks_nothing():
    services = Services(cases={})
    data = cases.listing(services, request(), {**AGENT, "teams": []}, page_query(scope="team"))
    assert data == {"items": [], "limit": 50, "offset": 0, "next": None}
    assert services.calls == []


def test_mine_asks_for_the_users_cases_and_sorts_them_by_urgency():
    soon = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    later = (datetime.now(UTC) + timedelta(hours=5)).isoformat()
    me = {"kind": "person", "id": AGENT["id"]}
    rows = [
        case("c-late", due=later, assignee=me),
        case("c-other", due=soon, assignee={"kind": "person", "id": "someone"}),
        case("c-p1", level="P1", assignee=me),
        case("c-soon", due=soon, assignee=me),
    ]
    services = Services(cases={"list_cases": rows})
    data = cases.listing(services, request(), AGENT, page_query(scope="mine"))
    assert [c["_id"] for c in data["items"]] == ["c-p1", "c-soon", "c-late"]
    assert data["items"][1]["deadline"] == soon and data["items"][0]["deadline"] is None
    [(name, _, kwargs)] = services.calls
    assert name == "cases.list_cases" and kwargs["assignee"] == AGENT["id"] and kwargs["skip"] == 0
    assert kwargs["visible_to"] == {"user_id": AGENT["id"], "role": "agent", "teams": ["logistics"]}


def test_newest_first_reads_one_extra_row_to_know_there_is_a_next_page():
    services = Services(cases={"list_cases": [case(f"c{i}") for i in range(3)]})
    data = cases.listing(services, request("sort=newest&limit=2"), OWNER, page_query(sort="newest", limit=2))
    assert [c["_id"] for c in data["items"]] == ["c0", "c1"]
    assert data["next"] == "/api/v1/cases?sort=newest&limit=2&offset=2"
    assert services.calls[0][2]["limit"] == 3


def test_an_action_checks_visibility_first_and_acts_as_the_signed_in_user():
    services = Services(
        cases={"suggest_playbooks": NO_PLAYBOOKS, "get_case": case("c1"), "acknowledge": {"ok": True}}
    )
    assert cases.act(services, AGENT, "c1", "acknowledge", {"reason": None}) == {"ok": True}
    assert services.names() == ["cases.get_case", "cases.acknowledge"]
    assert services.calls[1][1] == ({"reason": None, "case_id": "c1", "by": AGENT["id"]},)


def test_an_action_on_a_case_the_user_may_not_see_is_never_sent():
    def hidden(case_id, visible_to):
        raise RemoteError("NotFound", f"no case {case_id}")

    services = Services(cases={"suggest_playbooks": NO_PLAYBOOKS, "get_case": hidden})
    with pytest.raises(RemoteError):
        cases.act(services, AGENT, "c9", "acknowledge", {})
    assert services.names() == ["cases.get_case"]


@pytest.mark.parametrize(
    ("exc_type", "status"), [("InvalidTransition", 409), ("BadRequest", 422), ("Boom", None)]
)
def test_the_cases_services_refusals_become_409_and_422(exc_type, status):
    def refuse(body):
        raise RemoteError(exc_type, "root_cause: unknown")

    services = Services(cases={"suggest_playbooks": NO_PLAYBOOKS, "get_case": case("c1"), "resolve": refuse})
    with pytest.raises(HttpError if status else RemoteError) as caught:
        cases.act(services, AGENT, "c1", "resolve", {})
    if status:
        assert caught.value.status == status


def test_a_case_form_goes_back_to_the_case_or_shows_the_page_with_the_error():
    ok = Services(
        cases={"suggest_playbooks": NO_PLAYBOOKS, "get_case": case("c 1"), "start": {}, "list_agents": {}},
        profiles={"get_profile": {}},
    )
    with pytest.raises(Redirect) as moved:
        cases.form_action(ok, principal(), "c 1", "start", {"csrf_token": "t"})
    assert moved.value.location == "/cases/c%201?done=start"

    def conflict(body):
        raise RemoteError("InvalidTransition", "assigned → in_progress only")

    refused = Services(
        cases={
            "suggest_playbooks": NO_PLAYBOOKS,
            "get_case": case("c1"),
            "start": conflict,
            "list_agents": {},
        },
        profiles={"get_profile": {}},
    )
    response = cases.form_action(refused, principal(), "c1", "start", {})
    shown = response.get_data(as_text=True)
    assert response.status_code == 409 and "does not allow this. (Status: assigned)" in shown


# ---------------------------------------------------- case page: aspects
EVERY_ASPECT = "快递太慢，价格太贵，做工差，客服态度恶劣，售后不管，排队等了一小时，账单乱扣费，app闪退"


def about(text):
    """A case whose triggering event's comment is ``text`` (no touchpoint, a neutral rule id)."""
    return {
        **case("c1"),
        "rule": {"id": "r1", "name": "差评", "version": 1},
        "event": {"channel": "wechat", "scores": {"nps": 2}, "text": text},
    }


def case_page_html(text, language):
    services = Services(
        cases={"suggest_playbooks": NO_PLAYBOOKS, "get_case": about(text), "list_agents": {}},
        profiles={"get_profile": {}},
    )
    user = {**AGENT, "language": language}
    signed_in = Principal(user, "session", {"_id": "s1", "csrf": "t", "language": language})
    return cases.case_page(services, signed_in, "c1").get_data(as_text=True)


def aspect_row(html):
    found = re.search(r'<p id="case-aspects">(.*?)</p>', html, re.S)
    return found.group(1) if found else None


def test_the_case_page_shows_what_the_comment_is_about_in_the_users_language():
    zh = aspect_row(case_page_html("快递到得晚，价格也贵", "zh-CN"))
    assert zh is not None and "物流配送" in zh and "价格" in zh and "delivery" not in zh
    en = aspect_row(case_page_html("快递到得晚，价格也贵", "en"))
    assert en is not None and "Delivery" in en and "Price" in en
    assert aspect_row(case_page_html("还行", "zh-CN")) is None  # about nothing known: no row
    assert aspect_row(case_page_html(None, "en")) is None  # no comment (or erased): no row


def test_no_aspect_code_leaks_into_the_chinese_case_page():
    html = case_page_html(EVERY_ASPECT, "zh-CN")
    assert aspect_row(html).count('class="aspect"') == len(ASPECTS)
    shown = re.sub(r"<[^>]+>", " ", html)  # what a reader sees, not the markup
    assert [code for code in ASPECTS if re.search(rf"\b{code}\b", shown)] == []
    assert "aspect." not in shown  # an untranslated key shows itself


def test_the_api_case_carries_its_aspects_and_none_without_text():
    services = Services(cases={"suggest_playbooks": NO_PLAYBOOKS, "get_case": about("快递到得晚，价格也贵")})
    assert cases.one(services, AGENT, "c1")["aspects"] == ["delivery", "price"]
    services = Services(cases={"suggest_playbooks": NO_PLAYBOOKS, "get_case": about(None)})
    assert cases.one(services, AGENT, "c1")["aspects"] == []


# ---------------------------------------------------------------- profiles
def test_a_profile_names_only_the_cases_the_user_may_see():
    profile = {
        "_id": "C42",
        "merged_ids": ["C7"],
        "open_cases": [{"case_id": "c1"}, {"case_id": "c2"}],
        "timeline": [{"case_id": "c3"}, {"kind": "feedback"}],
    }

    def list_cases(limit, skip, customer, visible_to):
        assert limit == PAGE_MAX and visible_to["user_id"] == AGENT["id"]
        return {"C42": [{"_id": "c1"}], "C7": [{"_id": "c3"}]}[customer]

    services = Services(cases={"list_cases": list_cases})
    out = profiles.scoped(services, AGENT, profile)
    assert out["open_cases"] == [{"case_id": "c1"}]
    assert out["timeline"] == [{"case_id": "c3"}, {"kind": "feedback"}]
    assert [kwargs["customer"] for _, _, kwargs in services.calls] == ["C42", "C7"]


def test_a_profile_is_read_page_by_page_until_every_named_case_is_found():
    pages = {0: [{"_id": f"x{i}"} for i in range(PAGE_MAX)], PAGE_MAX: [{"_id": "c1"}] * PAGE_MAX}
    services = Services(cases={"list_cases": lambda limit, skip, customer, visible_to: pages[skip]})
    out = profiles.scoped(services, AGENT, {"_id": "C42", "open_cases": [{"case_id": "c1"}]})
    assert out["open_cases"] == [{"case_id": "c1"}]
    assert [kwargs["skip"] for _, _, kwargs in services.calls] == [0, PAGE_MAX]


def test_a_search_without_keys_asks_nothing():
    services = Services(profiles={})
    assert profiles.search(services, request(), AGENT, {"limit": 50, "offset": 0})["items"] == []
    assert services.calls == []


def test_no_profile_yet_is_none_and_other_failures_are_raised():
    def missing(customer_id, timeline_limit, timeline_skip=0):
        raise RemoteError("NotFound", "no profile")

    def broken(customer_id, timeline_limit, timeline_skip=0):
        raise RemoteError("Boom", "x")

    assert profiles.profile_or_none(Services(profiles={"get_profile": missing}), "C1", 1) is None
    with pytest.raises(RemoteError):
        profiles.profile_or_none(Services(profiles={"get_profile": broken}), "C1", 1)


# -------------------------------------------------------- rules, dashboard
def test_saving_the_editor_goes_to_the_rule_or_shows_the_errors_beside_the_text():
    saved = Services(alerts={"create_rule": {"id": "r 1"}})
    with pytest.raises(Redirect) as moved:
        alert_rules.save_form(saved, principal(OWNER), "id: r 1\nname: x\n")
    assert moved.value.location == "/rules/r%201"
    assert saved.calls == [
        (
            "alerts.create_rule",
            ({"id": "r 1", "name": "x"},),
            {"actor": OWNER["id"], "source": "id: r 1\nname: x\n"},
        )
    ]

    def invalid(rule_id, document, actor, source):
        raise RemoteError("BadRequest", "when.all.0.op: not an operator")

    refused = Services(alerts={"update_rule": invalid})
    response = alert_rules.save_form(refused, principal(OWNER), "id: r1\n", "r1")
    assert response.status_code == 400
    assert "when.all.0.op" in response.get_data(as_text=True)


def test_a_dry_run_of_a_stored_rule_defaults_to_the_last_seven_days_and_opens_its_text():
    result = {"since": None, "until": None, "events": 0, "matches": 0, "alerts": 0, "examples": []}
    found = {"rule": {"_id": "r1", "name": "x"}, "source": "# typed by hand\nid: r1\nname: x\n"}
    services = Services(alerts={"backtest": result, "get_rule": found})
    response = alert_rules.dry_run_form(services, principal(ADMIN), {"rule_id": "r1"})
    assert response.status_code == 200
    assert services.calls[0] == (
        "alerts.backtest",
        ("r1", "7d"),
        {"until": None, "examples": 10, "lexicon_edits": None},
    )
    page = response.get_data(as_text=True)
    assert "# typed by hand" in page and 'name="rule_id" value="r1"' in page and 'value="7d"' in page


def test_the_dashboards_window_defaults_to_thirty_days_and_must_not_be_empty():
    until = datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(HttpError) as caught:
        dashboard.figures(Services(), {"since": until, "until": until, "bucket": "day"})
    assert caught.value.errors == [{"field": "query.until", "message": "must be after since"}]
    services = Services(
        alerts={"stats": {}},
        cases={"metrics": {"overall": {}, "groups": [], "also": {"touchpoint": []}}},
        profiles={
            "score_trend": {"buckets": []},
            "aspects_by_touchpoint": {"aspects": [], "touchpoints": []},
        },
    )
    figures = dashboard.figures(services, {"until": until, "bucket": "week"})
    assert figures["since"] == (until - timedelta(days=30)).isoformat()
    assert figures["bucket"] == "week" and figures["scores"]["available"] is True


def test_aspects_per_touchpoint_are_not_available_from_an_older_profiles_service():
    from nameko.exceptions import RemoteError

    def missing(*args, **kwargs):
        raise RemoteError("MethodNotFound", "aspects_by_touchpoint")

    until = datetime(2026, 12, 1, tzinfo=UTC)
    services = Services(
        alerts={"stats": {}},
        cases={"metrics": {"overall": {}, "groups": [], "also": {"touchpoint": []}}},
        profiles={"score_trend": {"buckets": []}, "aspects_by_touchpoint": missing},
    )
    figures = dashboard.figures(services, {"until": until, "bucket": "day"})
    assert figures["aspects"] == {"available": False, "reason": "aspects_by_touchpoint"}
    assert figures["scores"]["available"] is True  # the rest still renders
    with pytest.raises(HttpError) as caught:
        dashboard.aspects_csv(services, {"until": until.date()}, lambda key: key)
    assert caught.value.status == 503


def test_the_dashboard_page_reads_whole_local_days_from_its_date_pickers():
    calls = []

    def stats(**window):
        calls.append(window)
        return {}

    services = Services(
        alerts={"stats": stats},
        cases={"metrics": {"overall": {}, "groups": [], "also": {"touchpoint": []}}},
        profiles={
            "score_trend": {"buckets": []},
            "aspects_by_touchpoint": {"aspects": [], "touchpoints": []},
        },
    )
    figures = dashboard.page_figures(
        services, {"since": date(2026, 11, 1), "until": date(2026, 11, 30), "bucket": "day"}
    )
    assert (figures["first_day"], figures["last_day"]) == ("2026-11-01", "2026-11-30")
    # Shanghai midnights (BOARD_TIMEZONE), the last day included
    assert calls[-1] == {"since": "2026-11-01T00:00:00+08:00", "until": "2026-12-01T00:00:00+08:00"}
    default = dashboard.page_figures(services, {"bucket": "day"})
    first, last = date.fromisoformat(default["first_day"]), date.fromisoformat(default["last_day"])
    assert (last - first).days == 29  # 30 days, today included
    with pytest.raises(HttpError) as caught:
        dashboard.page_figures(
            services, {"since": date(2026, 12, 2), "until": date(2026, 12, 1), "bucket": "day"}
        )
    assert caught.value.status == 400
