"""The lexicon overlay's store (services/common/lexicon.py) and the rule index it feeds
(services/alerts/rule_store.py) on the real store."""

from __future__ import annotations

import pytest

from services.alerts.rule_admin import apply_rule_set
from services.alerts.rule_store import RuleStore
from services.common.errors import BadRequest, Conflict
from services.common.lexicon import LexiconStore

RULE = {
    "id": "product",
    "name": "产品 / product",
    "level": "P3",
    "owner": {"kind": "person", "id": "li.na"},
    "channels": ["email"],
    "when": {"field": "text", "op": "contains_any", "value": ["云享宽带"]},
}


@pytest.fixture
def lexicon(db):
    return LexiconStore(db, max_staleness=3600)


def add(word="云享宽带", list_name="domain"):
    return {"op": "add", "list": list_name, "word": word}


def test_versions_before_and_after_and_a_revert_back_to_the_shipped_list(lexicon):
    first = lexicon.edit(add(), "li.na", "new product")
    assert (first["changed"], first["version"]) == (True, 1)
    assert lexicon.edit(add(), "li.na", "again")["changed"] is False  # no new version
    removed = lexicon.edit({"op": "remove", "list": "negative", "word": "慢"}, "wang.lei", "false alarms")
    assert removed["version"] == 2
    assert lexicon.analyzer().version == 2 and "云享宽带" in lexicon.analyzer().analyze("云享宽带太慢").words
    assert "慢" not in lexicon.analyzer().lexicon.negative
    [latest, earlier] = lexicon.history()[:2]
    assert (latest["op"], latest["before"], latest["after"]) == (
        "remove",
        None,
        {"state": "removed", "aspect": None},
    )
    assert (earlier["actor"], earlier["reason"]) == ("li.na", "new product")
    undone = lexicon.revert(2, "wang.lei", "it was right")
    assert undone["reverts"] == 2 and "慢" in lexicon.analyzer().lexicon.negative
    assert [e["word"] for e in lexicon.overlay()[0]] == ["云享宽带"]
    with pytest.raises(Conflict, match="revert that first"):
        lexicon.revert(2, "wang.lei", "twice")
    with pytest.raises(BadRequest, match="^reason:"):
        lexicon.edit(add("丝滑", "positive"), "li.na", " ")
    with pytest.raises(BadRequest, match="^list:"):
        lexicon.edit(add("丝滑", "slang"), "li.na", "r")


def test_the_rule_index_is_rebuilt_once_for_a_new_lexicon(db, lexicon):
    rules = RuleStore(db)
    apply_rule_set(rules, {"rules": [RULE]}, "li.na")  # validated, as the RPC stores it
    assert [r["id"] for r in rules.rule_index().rules] == ["product"]
    before = lexicon.analyzer()
    index = rules.rule_index(before)
    assert rules.rule_index(before) is index  # the same lexicon: the cached index
    lexicon.edit(add(), "li.na", "new product")
    after = lexicon.analyzer()
    assert after is not before and after.version == 1
    rebuilt = rules.rule_index(after)
    assert rebuilt is not index and rebuilt.analyzer is after and rules.rule_index(after) is rebuilt
    # the keyword as each lexicon segments it: 云享 + 宽带 before, one word after
    assert ("word", "text", "云享") in index.when.keys and ("word", "text", "云享") not in rebuilt.when.keys
    assert ("sub", "text", "云享宽带") in rebuilt.when.keys


LABELS = {"zh-CN": "安装质量", "en": "Installation quality"}
TERM = {"op": "add", "list": "aspects", "word": "安装", "aspect": "installation_quality"}


def test_a_new_aspect_code_is_a_version_its_terms_may_name_and_a_revert_takes_it_away(lexicon):
    with pytest.raises(BadRequest, match="aspect: unknown aspect 'installation_quality'"):
        lexicon.edit(TERM, "li.na", "before the code exists")
    added = lexicon.add_aspect("installation_quality", LABELS, "li.na", "installers' complaints")
    assert (added["version"], added["code"], added["labels"]) == (1, "installation_quality", LABELS)
    assert lexicon.aspect_codes()[-1] == "installation_quality"
    assert lexicon.analyzer().lexicon.aspect_labels == {"installation_quality": LABELS}
    [version] = lexicon.history()
    assert (version["op"], version["list"], version["word"], version["after"]["labels"]) == (
        "add_aspect",
        "aspect_codes",
        "installation_quality",
        LABELS,
    )
    with pytest.raises(BadRequest, match="code: aspect 'installation_quality' exists already"):
        lexicon.add_aspect("installation_quality", LABELS, "wang.lei", "twice")
    with pytest.raises(BadRequest, match="code: aspect 'delivery' exists already"):
        lexicon.add_aspect("delivery", LABELS, "wang.lei", "a shipped one")
    with pytest.raises(BadRequest, match="labels.en"):
        lexicon.add_aspect("parking", {"zh-CN": "停车"}, "wang.lei", "no English label")

    term = lexicon.edit(TERM, "li.na", "what customers write")
    assert "installation_quality" in lexicon.analyzer().analyze("安装师傅迟到").aspects
    with pytest.raises(Conflict, match=r"still has terms: 安装 \(version 2\)"):
        lexicon.revert(1, "wang.lei", "not needed")
    lexicon.revert(term["version"], "wang.lei", "the term first")
    with pytest.raises(Conflict, match="used by rule install, playbook install-visit"):
        lexicon.revert(
            1, "wang.lei", "not needed", users=lambda code: ["rule install", "playbook install-visit"]
        )
    assert lexicon.aspect_codes()[-1] == "installation_quality"  # refused: nothing changed
    undone = lexicon.revert(1, "wang.lei", "not needed", users=lambda code: [])
    assert undone["reverts"] == 1 and "installation_quality" not in lexicon.aspect_codes()
    assert lexicon.analyzer().lexicon.aspect_labels == {}
    # taken away, the code may be added again
    lexicon.add_aspect("installation_quality", LABELS, "li.na", "needed after all")
    assert lexicon.analyzer().lexicon.aspect_labels == {"installation_quality": LABELS}
