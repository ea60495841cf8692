"""Rule administration (services/alerts/rule_admin.py) over an in-memory rules store:
what each change refuses, which version it writes under which action, and what it answers."""

import pytest

from services.alerts import rule_admin
from services.common.errors import BadRequest, Conflict, NotFound
from tests.unit.test_rules import rule

RULE = rule(id="low-nps", name="Low NPS")


class Rules:
    """The RuleStore verbs rule_admin uses, in memory (versions as RuleStore writes them)."""

    def __init__(self):
        self.rules: dict[str, dict] = {}
        self.versions: list[dict] = []
        self.conflict = False

    def get_rule(self, rule_id):
        return self.rules.get(rule_id)

    def rule_version(self, rule_id, version):
        return next((v for v in self.versions if (v["rule_id"], v["version"]) == (rule_id, version)), None)

    def write_version(self, rule, actor, action, current, source=None):
        if current and current["fingerprint"] == rule["fingerprint"] and not current.get("deleted"):
            return None  # (the text typed for a rule: tests/services/test_alert_rules.py)
        return self._add(rule, actor, action, current)

    def soft_delete(self, rule, actor):
        return self._add(rule, actor, "deleted", self.rules[rule["id"]], deleted=True)

    def apply_rules(self, rules, actor):
        return {"applied": [r["id"] for r in rules], "by": actor}

    def _add(self, rule, actor, action, current, deleted=False):
        if self.conflict:
            raise Conflict(f"rule {rule['id']} changed concurrently; reload and retry")
        version = current["version"] + 1 if current else 1
        self.versions.append(
            {"rule_id": rule["id"], "version": version, "action": action, "definition": rule}
        )
        self.rules[rule["id"]] = {**rule, "_id": rule["id"], "version": version, "updated_by": actor}
        if deleted:
            self.rules[rule["id"]]["deleted"] = {"by": actor}
        return version


def actions(rules: Rules) -> list[tuple[int, str]]:
    return [(v["version"], v["action"]) for v in rules.versions]


def test_create_writes_version_one_and_refuses_an_existing_rule_but_not_a_deleted_one():
    rules = Rules()
    assert rule_admin.create(rules, RULE, "li.na") == {"id": "low-nps", "version": 1, "changed": True}
    with pytest.raises(BadRequest, match="already exists; use update"):
        rule_admin.create(rules, RULE, "li.na")
    rule_admin.delete(rules, "low-nps", "li.na")
    assert rule_admin.create(rules, RULE, "li.na")["version"] == 3
    assert actions(rules) == [(1, "created"), (2, "deleted"), (3, "created")]


def test_an_unchanged_update_keeps_the_current_version():
    rules = Rules()
    rule_admin.create(rules, RULE, "li.na")
    assert rule_admin.update(rules, "low-nps", RULE, "wang.lei") == {
        "id": "low-nps",
        "version": 1,
        "changed": False,
    }
    assert rule_admin.update(rules, "low-nps", {**RULE, "level": "P1"}, "wang.lei")["version"] == 2


@pytest.mark.parametrize(
    "document, message",
    [
        (["not", "a", "rule"], "_schema: a rule is an object"),
        ({**RULE, "id": "other"}, "id: the document is rule other, not low-nps"),
        ({**RULE, "level": "P9"}, "level"),
    ],
)
def test_update_refuses_what_is_not_this_rule_naming_the_field(document, message):
    rules = Rules()
    rule_admin.create(rules, RULE, "li.na")
    with pytest.raises(BadRequest) as refused:
        rule_admin.update(rules, "low-nps", document, "li.na")
    assert message in str(refused.value.args[0])
    assert actions(rules) == [(1, "created")]


def test_changes_to_a_missing_or_deleted_rule_are_not_found():
    rules = Rules()
    for change in (
        lambda: rule_admin.update(rules, "nope", RULE, "li.na"),
        lambda: rule_admin.set_enabled(rules, "nope", False, "li.na"),
        lambda: rule_admin.delete(rules, "nope", "li.na"),
    ):
        with pytest.raises(NotFound, match="no rule nope"):
            change()
    rule_admin.create(rules, RULE, "li.na")
    rule_admin.delete(rules, "low-nps", "li.na")
    with pytest.raises(NotFound):
        rule_admin.set_enabled(rules, "low-nps", True, "li.na")  # deleted: hidden
    assert rule_admin.update(rules, "low-nps", RULE, "li.na")["version"] == 3  # update revives it


def test_enable_disable_and_rollback_name_their_action_and_rewrite_the_old_definition():
    rules = Rules()
    rule_admin.create(rules, RULE, "li.na")
    rule_admin.update(rules, "low-nps", {**RULE, "level": "P1"}, "li.na")
    assert rule_admin.set_enabled(rules, "low-nps", False, "zhao.min")["version"] == 3
    assert rules.rules["low-nps"]["enabled"] is False and rules.rules["low-nps"]["level"] == "P1"
    assert rule_admin.rollback(rules, "low-nps", 1, "li.na")["version"] == 4
    assert rules.rules["low-nps"]["level"] == "P2" and rules.rules["low-nps"]["enabled"] is True
    assert actions(rules)[2:] == [(3, "disabled"), (4, "rolled back to v1")]
    with pytest.raises(NotFound, match="rule low-nps has no version 9"):
        rule_admin.rollback(rules, "low-nps", 9, "li.na")


def test_a_concurrent_change_is_a_bad_request_not_a_crash():
    rules = Rules()
    rule_admin.create(rules, RULE, "li.na")
    rules.conflict = True
    with pytest.raises(BadRequest, match="changed concurrently"):
        rule_admin.update(rules, "low-nps", {**RULE, "level": "P1"}, "li.na")
    with pytest.raises(BadRequest, match="changed concurrently"):
        rule_admin.delete(rules, "low-nps", "li.na")


def test_a_rule_set_is_validated_whole_before_anything_is_stored():
    rules = Rules()
    assert rule_admin.apply_rule_set(rules, [RULE], "cxctl") == {"applied": ["low-nps"], "by": "cxctl"}
    with pytest.raises(BadRequest):
        rule_admin.apply_rule_set(rules, [RULE, {**RULE, "id": "bad", "level": "P9"}], "cxctl")


def test_a_stored_rule_reads_back_as_the_document_an_admin_writes():
    stored = {**RULE, "_id": "low-nps", "fingerprint": "f", "version": 3, "updated_at": 1, "updated_by": "x"}
    assert rule_admin.definition({**stored, "deleted": {"by": "x"}}) == RULE
