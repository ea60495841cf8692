"""Gateway pieces without a broker: the OpenAPI document, the docs table, the catalogue, scope."""

from __future__ import annotations

import json
import re
from pathlib import Path

from openapi_spec_validator import validate

from services.gateway import openapi
from services.gateway.auth import digest, hash_password, needs_rehash, verify_password
from services.gateway.gate import safe_next
from services.gateway.i18n import CATALOGUE, LANGUAGES
from services.gateway.pagination import scan
from services.gateway.routes import CASE_STATUSES, ROLES, ROUTES
from services.gateway.scope import in_scope, named_cases, only_cases, viewer
from textanalysis.text import ASPECTS

TEMPLATES = Path(openapi.HERE / "templates")


def test_openapi_document_is_valid_openapi_3_1():
    document = json.loads(openapi.OPENAPI_FILE.read_text(encoding="utf-8"))
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_checked_in_openapi_and_docs_table_are_fresh():
    assert openapi.stale_files() == [], "run: python -m services.gateway.openapi"


def test_docs_table_lists_every_route_with_its_roles():
    table = openapi.authorisation_table()
    for route in ROUTES:
        [row] = [line for line in table.splitlines() if f"`{route.name}`" in line]
        cells = [c.strip() for c in row.strip("|").split("|")][3:]
        assert len(cells) == len(ROLES)
        for role, cell in zip(ROLES, cells, strict=True):
            assert cell == ("public" if route.public else ("✓" if role in route.roles else "")), (
                route.name,
                role,
            )


def test_every_api_route_is_in_openapi_with_its_query_parameters():
    document = openapi.build_openapi()
    for route in ROUTES:
        if route.kind != "api":
            continue
        op = document["paths"][route.openapi_path][route.method.lower()]
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
        assert names == set(route.query().fields), route.name
        assert op["x-roles"] == list(route.roles)


def test_catalogue_has_both_languages_and_templates_use_only_known_keys():
    for key, entry in CATALOGUE.items():
        assert set(entry) == set(LANGUAGES) and all(entry.values()), key
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r't\("([a-z0-9_.]+)"\)', template.read_text(encoding="utf-8")))
    assert used and used <= set(CATALOGUE), used - set(CATALOGUE)
    # keys built in templates: level.*, status.*, queue.scope.*, role.*, aspect.*, error.<status>
    for prefix, values in {
        "level.": ("P1", "P2", "P3", "P4"),
        "status.": CASE_STATUSES,
        "queue.scope.": ("all", "mine", "team", "unassigned"),
        "role.": ROLES,
        "aspect.": ASPECTS,  # every aspect code of textanalysis/lexicon/aspects.txt
    }.items():
        assert all(prefix + v in CATALOGUE for v in values)


def test_templates_autoescape_customer_text():
    from services.gateway.gate import Principal
    from services.gateway.views import render

    user = {"id": "a", "name": "<b>x</b>", "role": "agent", "teams": [], "language": "en"}
    html = render(
        "rules.html",
        Principal(user, "session", {"csrf": "t", "language": "en"}),
        page={"items": []},
        next_url=None,
    ).get_data(as_text=True)
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html


def test_queue_scope_filters_and_viewer():
    agent = {"id": "chen.jie", "role": "agent", "teams": ["cx-care"]}
    mine = {"assignee": {"kind": "person", "id": "chen.jie"}}
    team = {"assignee": {"kind": "team", "id": "cx-care"}}
    pool = {"assignee": None}
    assert viewer(agent) == {"user_id": "chen.jie", "role": "agent", "teams": ["cx-care"]}
    assert [in_scope(agent, "mine", c) for c in (mine, team, pool)] == [True, False, False]
    assert [in_scope(agent, "team", c) for c in (mine, team, pool)] == [False, True, False]
    assert [in_scope(agent, "unassigned", c) for c in (mine, team, pool)] == [False, False, True]
    assert all(in_scope(agent, "all", c) for c in (mine, team, pool))


def test_scan_pages_through_a_filtered_list():
    rows = list(range(23))

    def fetch(skip, n):
        return rows[skip : skip + n]

    out, nxt, pages = [], 0, 0
    while nxt is not None:
        got, nxt = scan(fetch, lambda r: r % 3 == 0, limit=2, offset=nxt, batch=5)
        out += got
        pages += 1
    assert out == [r for r in rows if r % 3 == 0] and pages == 4


def test_passwords_and_secrets():
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$") and not needs_rehash(stored)
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "wrong")
    assert not verify_password(None, "anything")
    assert digest("a") != digest("b") and len(digest("a")) == 64


def test_login_redirects_stay_on_the_site():
    assert safe_next("/cases/CASE-1?x=1") == "/cases/CASE-1?x=1"
    for bad in ("https://evil.example/", "//evil.example/", "/\\evil", "/\t/evil.example", "/\n/x", "", None):
        assert safe_next(bad) == "/cases"
    # the fuzzing and the HTTP answers: tests/security/test_login_redirects.py


def test_a_profile_names_only_the_cases_given_as_visible():
    profile = {
        "_id": "C1",
        "open_cases": [{"case_id": "CASE-A", "title": "a"}, {"case_id": "CASE-B", "title": "b"}],
        "timeline": [
            {"kind": "feedback", "channel": "app"},
            {"kind": "alert", "alert_id": "AL-1"},
            {"kind": "case_opened", "case_id": "CASE-B", "title": "b"},
            {"kind": "case_milestone", "case_id": "CASE-A", "to_status": "assigned"},
        ],
    }
    assert named_cases(profile) == {"CASE-A", "CASE-B"}
    seen = only_cases(profile, {"CASE-A"})
    assert [c["case_id"] for c in seen["open_cases"]] == ["CASE-A"]
    assert [e["kind"] for e in seen["timeline"]] == ["feedback", "alert", "case_milestone"]
    assert profile["open_cases"][1]["case_id"] == "CASE-B"  # the original is left as it was
    search_row = {"_id": "C1", "identity": {"name": "x"}}
    assert named_cases(search_row) == set() and only_cases(search_row, set()) == search_row


def test_login_form_tokens_are_a_signed_double_submit_pair():
    from services.gateway.auth import form_cookie_valid, form_token, form_token_valid, new_form_cookie

    key, now = b"k" * 32, 1_800_000_000.0
    cookie = new_form_cookie(now, 1800)
    assert form_cookie_valid(cookie, now + 1799) and not form_cookie_valid(cookie, now + 1800)
    token = form_token(key, cookie)
    assert form_token_valid(key, cookie, token, now)
    assert not form_token_valid(b"x" * 32, cookie, token, now)  # another key
    assert not form_token_valid(key, new_form_cookie(now, 1800), token, now)  # another cookie
    assert not form_token_valid(key, None, token, now) and not form_token_valid(key, cookie, None, now)
    for forged in ("", ".", "short.9999999999", "n" * 43 + ".", "n" * 43 + ".x1", "n" * 43 + ".١٢٣"):
        assert not form_cookie_valid(forged, now)


def test_deploy_config_parses_and_configures_the_gateway(monkeypatch):
    from nameko.cli.utils.config import load_config, setup_yaml_parser

    setup_yaml_parser()
    path = openapi.HERE.parent.parent / "deploy" / "config.yaml"
    monkeypatch.setenv("GATEWAY_ADDRESS", "127.0.0.1:8123")
    with open(path, encoding="utf-8") as f:
        config = load_config(f)
    assert config["WEB_SERVER_ADDRESS"] == "127.0.0.1:8123"
    assert config["GATEWAY_COOKIE_SECURE"] is False and config["MAX_DELIVERY_ATTEMPTS"] == 5


def test_charts_are_escaped_svg_and_the_trend_degrades_to_not_available():
    from nameko.exceptions import RemoteError

    from services.gateway import dashboard
    from services.gateway.charts import bar_chart, line_chart

    svg = str(bar_chart("c1", "<t>", [("<b>rule</b>", 3), ("none", None)], ""))
    assert svg.startswith('<svg id="c1"') and "&lt;b&gt;rule&lt;/b&gt;" in svg and "<b>" not in svg
    assert "–" in svg  # a missing figure reads as a dash
    line = str(line_chart("c2", "NPS", ["d1", "d2", "d3"], {"NPS": [10.0, None, -5.0]}))
    assert line.count("<polyline") == 2 and line.count("<circle") == 2

    class NoTrend:  # a profiles service deployed without score_trend answers MethodNotFound
        def score_trend(self, *args):
            raise RemoteError("MethodNotFound", "profiles.score_trend")

    class Services:
        profiles = NoTrend()

    out = dashboard.score_trend(Services(), "2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00", "day")
    assert out == {"available": False, "reason": "profiles.score_trend"}


def test_queue_order_is_level_then_sla_time_left():
    from services.gateway.urgency import annotate, by_urgency

    def case(cid, level, due=None, state="running", met=None):
        clocks = {"resolve": {"state": state, "due": due, "met": met}} if due or state == "stopped" else {}
        return {
            "_id": cid,
            "level": level,
            "opened_at": "2026-11-20T00:00:00+00:00",
            "sla": {"clocks": clocks},
        }

    cases = [
        case("p3-soon", "P3", "2026-11-20T01:00:00+00:00"),
        case("p2-none", "P2"),
        case("p2-late", "P2", "2026-11-21T00:00:00+00:00"),
        case("p2-soon", "P2", "2026-11-20T02:00:00+00:00"),
        case("p2-paused", "P2", "2026-11-20T00:30:00+00:00", state="paused"),
    ]
    assert [c["_id"] for c in by_urgency(cases)] == ["p2-soon", "p2-late", "p2-none", "p2-paused", "p3-soon"]
    assert annotate(cases[3])["deadline"] == "2026-11-20T02:00:00+00:00"
    assert annotate(cases[4])["deadline"] is None
    assert annotate(case("missed", "P1", state="stopped", met=False))["missed"] is True
