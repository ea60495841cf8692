"""Pure parts of the queue and the case page: the trigger as sentences, codes through the
catalogue, the system's audit reasons, the queue's disjoint conditions."""

from __future__ import annotations

import pytest

from services.cases import queue
from services.gateway import audit_why
from services.gateway.i18n import CATALOGUE, LANGUAGES, label, owner_label, translator
from services.gateway.trigger import duration, sentences

ZH, EN = translator("zh-CN"), translator("en")
SCORE_DROP = {
    "path": "when",
    "window": "score_drop",
    "value": {"score": "nps", "by": 5, "within": "30d"},
    "actual": {
        "score": "nps",
        "current": 0,
        "within": "30d",
        "previous_events": 3,
        "average": 8.0,
        "drop": 8.0,
    },
    "result": True,
}


def test_a_score_drop_reads_as_the_issue_asks_in_both_languages():
    assert sentences(EN, [SCORE_DROP]) == ["NPS fell 8 points in 30 days: average 8.0, now 0"]
    assert sentences(ZH, [SCORE_DROP]) == ["NPS 在 30 天内下降了 8 分：此前平均 8.0，本次 0"]


def test_leaves_and_windows_as_sentences_only_for_what_held():
    trace = [
        {"field": "scores.nps", "op": "lte", "value": 6, "actual": 2, "result": True},
        {
            "field": "text",
            "op": "contains_any",
            "value": ["退款"],
            "matched": ["退款"],
            "actual": "我要退款",
            "result": True,
        },
        {"field": "category", "op": "eq", "value": "complaint", "actual": "complaint", "result": True},
        {"field": "touchpoint", "op": "eq", "value": "store", "actual": "delivery", "result": False},
        {
            "window": "count",
            "value": {},
            "actual": {"count": 3, "at_least": 3, "within": "7d"},
            "result": True,
        },
        {"window": "no_response", "value": {"within": "48h"}, "actual": {}, "result": True},
    ]
    assert sentences(EN, trace) == [
        "NPS is 2 (rule: ≤ 6)",
        "The comment mentions 退款",
        "The category is complaint (rule: is complaint)",
        "3 matching events in 7 days (the rule needs at least 3)",
        "No response within 48 hours",
    ]
    zh = sentences(ZH, trace)
    assert zh[2] == "反馈类别为 投诉（条件：等于 投诉）" and zh[4] == "48 小时内没有得到回应"
    assert (
        sentences(EN, None) == [] and duration(EN, "90s") == "90 seconds" and duration(EN, "soon") == "soon"
    )


def test_codes_show_translated_and_unknown_ones_as_themselves():
    assert label(ZH, "root_cause", "delivery_delay") == "配送延误"
    assert label(ZH, "touchpoint", "kiosk") == "kiosk"  # an integration's own touchpoint
    assert label(ZH, "tier", None) == ""
    assert owner_label(ZH, {"kind": "team", "id": "cx-care"}) == "团队：cx-care"
    assert owner_label(EN, {"kind": "person", "id": "chen.jie"}) == "chen.jie"
    assert owner_label(ZH, None) == "未分配"
    for key, entry in CATALOGUE.items():
        assert set(entry) == set(LANGUAGES), key
        # a {placeholder} in one language is in the other
        assert sorted(_fields(entry["zh-CN"])) == sorted(_fields(entry["en"])), key


def _fields(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


@pytest.mark.parametrize(
    "entry, zh",
    [
        ({"action": "opened", "actor": "system", "why": "alert AL-1"}, "由预警 AL-1 产生"),
        (
            {"action": "assigned", "actor": "system", "why": "owner of rule refund"},
            "规则 refund 指定的负责人",
        ),
        (
            {"action": "sla_warning", "actor": "system", "why": "resolve clock at risk; li.na warned"},
            "解决时钟即将超时，已提醒 li.na",
        ),
        ({"action": "collaborator_added", "why": "chen.jie as 物流"}, "chen.jie，协作角色：物流"),
        ({"action": "commented", "why": "customer"}, "客户可见"),
        ({"action": "reopened", "actor": "li.na", "why": "alert 12"}, "alert 12"),  # a person's words
        ({"action": "reassigned", "why": "我熟悉 as 客户"}, "我熟悉 as 客户"),  # a person's words stay
    ],
)
def test_system_reasons_are_translated_and_peoples_words_kept(entry, zh):
    assert audit_why.why(ZH, entry)[0] == zh


AGENT = {"user_id": "a", "role": "agent", "teams": ["t1"]}


def test_an_agents_visibility_is_four_disjoint_conditions_and_views_narrow_them():
    visible = queue.visibility_branches(AGENT)
    assert len(visible) == 4 and queue.visibility_branches({**AGENT, "role": "owner"}) == [{}]
    mine = queue.product(visible, queue.view_branches("mine", AGENT, 0, 60))
    assert mine == [{"assignee_key": "person:a"}]  # the pool and collaborator parts cannot hold
    unassigned = queue.product(visible, queue.view_branches("unassigned", AGENT, 0, 60))
    assert len(unassigned) == 2 and all(b["assignee_key"] == "" for b in unassigned)
    team = queue.product(visible, queue.view_branches("team", AGENT, 0, 60))
    assert {"assignee_key": "", "team": {"$in": ["t1"]}} in team  # None dropped by the view's $in
    assert queue.view_branches("team", {**AGENT, "teams": []}, 0, 60) == []
    assert len(queue.view_branches("breaching", AGENT, 100.0, 1)) == 3


def test_conjoin_merges_plain_conditions_and_wraps_the_rest():
    assert queue.conjoin({"a": 1}, {"b": 2}) == {"a": 1, "b": 2}
    assert queue.conjoin({"a": 1}, {"a": 2}) is None
    assert queue.conjoin({"a": 1}, {"a": {"$in": [1, 2]}}) == {"a": 1}
    assert queue.conjoin({"a": {"$in": [1, 2]}}, {"a": {"$in": [2, 3]}}) == {"a": {"$in": [2]}}
    assert queue.conjoin({"a": {"$lte": 5}}, {"a": {"$gt": 1}}) == {"a": {"$lte": 5, "$gt": 1}}
    assert queue.conjoin({"a": {"$nin": [1]}}, {"a": {"$in": [1]}}) is None
    assert queue.conjoin({"$or": [{"a": 1}]}, {"b": 2}) == {"$and": [{"$or": [{"a": 1}]}, {"b": 2}]}
    assert queue.conjoin({"a": {"$lte": 5}}, {"a": {"$lte": 3}}) == {
        "$and": [{"a": {"$lte": 5}}, {"a": {"$lte": 3}}]
    }


def test_a_language_switch_goes_back_to_a_page_that_can_be_loaded_again():
    from services.gateway.sessions import page_to_show_again

    # pages (GET) stay; a form's answer (POST-only) goes to the page above it
    assert page_to_show_again("/cases/C-1") == "/cases/C-1"
    assert page_to_show_again("/cases/C-1/assign") == "/cases/C-1"
    assert page_to_show_again("/templates/zh-CN/email.alert_raised/preview") == (
        "/templates/zh-CN/email.alert_raised"
    )
    assert page_to_show_again("/customers/C9/erase") == "/customers/C9"
    assert page_to_show_again("/no/such/page") == "/"
    assert page_to_show_again("") == "/"


def test_no_console_template_puts_markup_in_the_page_title():
    import re
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "services" / "gateway" / "templates"
    for template in folder.rglob("*.html"):
        for title in re.findall(r"\{% block title %\}(.*?)\{% endblock %\}", template.read_text(), re.S):
            assert "<" not in title, f"{template.name}: markup in the title block"


def test_split_in_turns_covered_in_conditions_into_equalities():
    keys = ["person:a", "team:t", "team:t"]
    both = {"assignee_key": {"$in": keys}, "status": {"$in": ["open", "assigned"]}}
    assert queue.split_in(both) == [
        {"assignee_key": "person:a", "status": "open"},
        {"assignee_key": "person:a", "status": "assigned"},
        {"assignee_key": "team:t", "status": "open"},
        {"assignee_key": "team:t", "status": "assigned"},
    ]
    assert queue.split_in({"status": {"$in": ["open"]}}) == [{"status": "open"}]
    by_team = {"team": {"$in": ["t"]}, "status": {"$in": ["open", "assigned"]}, "level": "P1"}
    assert queue.split_in(by_team) == [
        {"team": "t", "status": "open", "level": "P1"},
        {"team": "t", "status": "assigned", "level": "P1"},
    ]
    no_one_index = {"assignee_key": {"$in": ["a", "b"]}, "event.touchpoint": "delivery"}
    assert queue.split_in(no_one_index) == [no_one_index]  # reads the cases either way
    due = {"status": {"$in": ["open"]}, "sla.clocks.acknowledge.due_epoch": {"$lte": 5.0}}
    assert queue.split_in(due) == [due]
    with_null = {"assignee_key": "", "status": {"$in": ["open", None]}}
    assert queue.split_in(with_null) == [with_null]
    assert queue.split_in({"status": {"$nin": ["closed"]}}) == [{"status": {"$nin": ["closed"]}}]
    assert queue.split_in({}) == [{}]


def test_counted_by_status_groups_an_indexed_condition_with_a_status_in():
    condition = {"assignee_key": "person:a", "status": {"$in": ["open", "assigned"]}}
    assert queue.counted_by_status(condition) == ({"assignee_key": "person:a"}, ["open", "assigned"])
    assert queue.counted_by_status({"status": {"$in": ["open"]}}) == ({}, ["open"])
    assert queue.split_in(
        {"assignee_key": {"$in": ["a", "b"]}, "status": {"$in": ["open"]}}, keep=("status",)
    ) == [
        {"assignee_key": "a", "status": {"$in": ["open"]}},
        {"assignee_key": "b", "status": {"$in": ["open"]}},
    ]
    for left_alone in (
        {"assignee_key": "person:a", "status": "open"},  # an equality: a $count
        {"status": {"$in": ["open", None]}},
        {"status": {"$in": ["open"]}, "sla.clocks.resolve.due_epoch": {"$lte": 5.0}},  # no queue index
    ):
        assert queue.counted_by_status(left_alone) is None
