"""Aspect codes an admin adds live (textanalysis/lexicon.py, text.py): the overlay's
``aspect_codes`` entries, their labels, terms that name them, and validation against
the live set (rule conditions, playbooks, the console's labels)."""

import pytest

from services.alerts import conditions
from services.alerts.lexicon_admin import aspect_users, names_aspect
from services.cases.playbooks import load_playbook
from services.common.errors import BadRequest, Conflict
from services.gateway.i18n import translator
from services.gateway.trigger import shown_value
from textanalysis import lexicon as lists
from textanalysis import text

LABELS = {"zh-CN": "安装质量", "en": "Installation quality"}
CODE_ENTRY = {
    "list": lists.CODES,
    "word": "installation_quality",
    "state": "added",
    "aspect": None,
    "labels": LABELS,
    "version": 1,
}
TERM_ENTRY = {
    "list": "aspects",
    "word": "安装",
    "state": "added",
    "aspect": "installation_quality",
    "version": 2,
}


@pytest.fixture
def live():
    """The process's analyzer with the new code and one of its terms (reset after)."""
    analyzer = text.Analyzer(text.Lexicon.with_overlay([CODE_ENTRY, TERM_ENTRY], 2))
    text.use_analyzer(analyzer)
    yield analyzer
    text.reset_analyzer()


def test_an_added_code_follows_the_shipped_ones_with_its_labels():
    overlay = [
        CODE_ENTRY,
        {**CODE_ENTRY, "word": "parking", "version": 3, "labels": {"zh-CN": "停车", "en": "Parking"}},
    ]
    assert lists.added_aspects(reversed(overlay)) == {
        "installation_quality": LABELS,
        "parking": {"zh-CN": "停车", "en": "Parking"},
    }
    assert lists.aspect_codes(overlay) == (*lists.ASPECTS, "installation_quality", "parking")
    lexicon = text.Lexicon.with_overlay(overlay, 3)
    assert lexicon.aspects[-2:] == ("installation_quality", "parking")
    assert lexicon.aspect_labels["installation_quality"] == LABELS
    assert "aspect_codes" not in lexicon.lists  # codes are no word list
    assert text.Lexicon.shipped().aspects == lists.ASPECTS and text.Lexicon.shipped().aspect_labels == {}


def test_a_term_of_the_new_code_finds_it_and_a_term_of_a_code_taken_away_finds_nothing(live):
    found = live.analyze("安装师傅迟到两小时")
    assert "installation_quality" in found.aspects
    assert ("installation_quality", "安装") in found.aspect_terms
    orphan = text.Analyzer(text.Lexicon.with_overlay([TERM_ENTRY], 3))  # the code's addition reverted
    assert "installation_quality" not in orphan.analyze("安装师傅迟到两小时").aspects


def test_an_aspect_term_edit_is_checked_against_the_live_codes():
    term = {"op": "add", "list": "aspects", "word": "安装", "aspect": "installation_quality"}
    with pytest.raises(lists.LexiconError) as shipped_only:
        lists.validate_edit(term)
    assert shipped_only.value.field == "aspect"
    assert lists.validate_edit(term, lists.aspect_codes([CODE_ENTRY]))["aspect"] == "installation_quality"
    assert lists.validate_edit(term, aspects=None)["aspect"] == "installation_quality"  # cxctl's local check
    # a draft on an overlay that has the code may name it
    entries = lists.apply_edits([CODE_ENTRY], [term])
    assert (
        "installation_quality"
        in text.Analyzer(text.Lexicon.with_overlay(entries, 1)).analyze("安装太慢").aspects
    )


@pytest.mark.parametrize(
    "code, labels, field",
    [
        ("Installation", LABELS, "code"),
        ("x", LABELS, "code"),
        ("a" * 41, LABELS, "code"),
        ("install-quality", LABELS, "code"),
        (None, LABELS, "code"),
        ("delivery", LABELS, "code"),  # a shipped code
        ("installation_quality", LABELS, "code"),  # added already
        ("parking", {"en": "Parking"}, "labels.zh-CN"),
        ("parking", {"zh-CN": "停车", "en": "  "}, "labels.en"),
        ("parking", {"zh-CN": "停车", "en": "Parking", "fr": "x"}, "labels.fr"),
        ("parking", {"zh-CN": "停" * 41, "en": "Parking"}, "labels.zh-CN"),
        ("parking", "停车", "labels"),
    ],
)
def test_a_bad_new_code_names_its_field(code, labels, field):
    with pytest.raises(lists.LexiconError) as raised:
        lists.validate_new_aspect(code, labels, lists.aspect_codes([CODE_ENTRY]))
    assert raised.value.field == field


def test_rules_and_playbooks_accept_the_code_only_while_it_is_live(live):
    when = {"field": "aspects", "op": "contains_any", "value": ["installation_quality", "delivery"]}
    assert conditions.check_condition(when) == []
    playbook = {
        "id": "install",
        "title": {"zh-CN": "安装问题", "en": "Installation"},
        "match": {"aspects": ["installation_quality"]},
        "steps": [{"zh-CN": "致电", "en": "Call"}],
        "reply": {"zh-CN": "您好", "en": "Hello"},
    }
    assert load_playbook(playbook)["match"]["aspects"] == ["installation_quality"]
    text.reset_analyzer()  # the shipped codes only
    [(path, message)] = conditions.check_condition(when)
    assert path == "value" and "installation_quality" in message
    with pytest.raises(BadRequest, match="match.aspects: unknown aspect 'installation_quality'"):
        load_playbook(playbook)


def test_the_console_shows_an_added_code_by_its_label_and_a_shipped_one_by_the_catalogue(live):
    zh, en = translator("zh-CN"), translator("en")
    assert (zh("aspect.installation_quality"), en("aspect.installation_quality")) == (
        "安装质量",
        "Installation quality",
    )
    assert zh("aspect.delivery") == "物流配送"
    assert zh("aspect.no_such_code") == "aspect.no_such_code"  # still caught by the catalogue tests


def test_a_rule_names_an_aspect_wherever_its_tree_holds_it():
    rule = {
        "all": [
            {"field": "nps", "op": "lte", "value": 6},
            {"not": {"field": "aspects", "op": "contains", "value": "parking"}},
        ]
    }
    assert names_aspect(rule, "parking") and not names_aspect(rule, "delivery")


def test_the_case_pages_why_table_shows_aspect_codes_by_their_labels(live):
    zh = translator("zh-CN")
    assert shown_value(zh, "aspects", ["delivery", "installation_quality"]) == "物流配送、安装质量"
    assert shown_value(zh, "scores.nps", 3) == "3" and shown_value(zh, "text", "快递") == "快递"


def test_the_users_of_a_code_are_its_rules_and_the_playbooks_cases_names_and_silence_refuses():
    rules = [
        {"_id": "install", "when": {"field": "aspects", "op": "contains_any", "value": ["parking"]}},
        {"_id": "other", "when": {"field": "aspects", "op": "contains", "value": "delivery"}},
    ]
    asked = []

    def cases(service, method, code):
        asked.append((service, method, code))
        return ["install-visit"], None

    assert aspect_users(rules, cases, "parking") == ["rule install", "playbook install-visit"]
    assert asked == [("cases", "playbooks_naming_aspect", "parking")]
    with pytest.raises(Conflict, match="cannot be checked now"):
        aspect_users(rules, lambda *_: (None, "cases did not answer (not running)"), "parking")
