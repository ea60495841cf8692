"""Rule administration, as the service's RPCs run it: apply a rule set, create,
update, enable or disable, delete, roll back. Each validates the document
(services/alerts/rules.py), writes a new version through the rules store
(services/alerts/rule_store.py) and answers what changed; an unchanged rule keeps
its version. Refusals: BadRequest (an invalid document, a concurrent change) and
NotFound (no such rule, or no such version).

Create and update may carry the rule's ``source``: the YAML the admin typed in the
console's editor, comments included. It is kept on the version beside the parsed
definition (never in the definition the engine reads) and must describe the same rule;
``get_rule`` answers it while the rule is still what that text says."""

from __future__ import annotations

import yaml

from services.alerts.rule_store import RuleStore
from services.alerts.rules import RuleError, load_rule, load_rules
from services.common.errors import BadRequest, Conflict, NotFound


def apply_rule_set(rules: RuleStore, document: dict | list, actor: str) -> dict:
    """Validate and store a rule set; unchanged rules keep their version."""
    return rules.apply_rules(_loaded(load_rules, document), actor)


MAX_SOURCE = 64 * 1024  # characters, as the console's editor takes


def create(rules: RuleStore, document: dict, actor: str, source: str | None = None) -> dict:
    """A new rule (version 1); an existing id is refused (use update)."""
    rule = validated(document)
    current = rules.get_rule(rule["id"])
    if current is not None and not current.get("deleted"):
        raise BadRequest(f"id: rule {rule['id']} already exists; use update")
    return _write(rules, rule, actor, "created", current, described(source, rule))


def update(
    rules: RuleStore, rule_id: str, document: dict | None, actor: str, source: str | None = None
) -> dict:
    """A rule's definition replaced by a new version (unchanged, source included: no version)."""
    current = current_rule(rules, rule_id, deleted_ok=True)
    if not isinstance(document, dict):
        raise BadRequest("_schema: a rule is an object")
    if document.get("id", rule_id) != rule_id:
        raise BadRequest(f"id: the document is rule {document['id']}, not {rule_id}")
    rule = validated({**document, "id": rule_id})
    return _write(rules, rule, actor, "updated", current, described(source, rule))


def described(source, rule: dict) -> str | None:
    """``source`` when it is YAML text saying exactly what ``rule`` says (its id may be
    left out, as an update's document may); BadRequest naming ``source`` otherwise."""
    if source is None:
        return None
    if not isinstance(source, str) or len(source) > MAX_SOURCE:
        raise BadRequest(f"source: the rule's YAML text, at most {MAX_SOURCE} characters")
    try:
        parsed = yaml.safe_load(source)
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, dict) or parsed.get("id", rule["id"]) != rule["id"]:
        raise BadRequest("source: not the YAML of this rule")
    try:
        same = load_rule({**parsed, "id": rule["id"]})["fingerprint"] == rule["fingerprint"]
    except RuleError:
        same = False
    if not same:
        raise BadRequest("source: says something else than the document")
    return source


def set_enabled(rules: RuleStore, rule_id: str, enabled: bool, actor: str) -> dict:
    current = current_rule(rules, rule_id)
    rule = validated({**definition(current), "enabled": bool(enabled)})
    return _write(rules, rule, actor, "enabled" if enabled else "disabled", current)


def delete(rules: RuleStore, rule_id: str, actor: str) -> dict:
    """Soft delete: the rule stops firing and is hidden; versions and alerts stay."""
    current = current_rule(rules, rule_id)
    rule = validated({**definition(current), "enabled": False})
    try:
        version = rules.soft_delete(rule, actor)
    except Conflict as exc:
        raise BadRequest(str(exc)) from None
    return {"id": rule_id, "version": version, "deleted": True}


def rollback(rules: RuleStore, rule_id: str, version: int, actor: str) -> dict:
    """An old version made current again, as a new version equal to it."""
    current = current_rule(rules, rule_id, deleted_ok=True)
    old = rules.rule_version(rule_id, int(version))
    if old is None:
        raise NotFound(f"rule {rule_id} has no version {version}")
    rule = validated(definition(old["definition"]))
    return _write(rules, rule, actor, f"rolled back to v{version}", current, old.get("source"))


def current_rule(rules: RuleStore, rule_id: str, deleted_ok: bool = False) -> dict:
    """The stored rule; NotFound when there is none (or it is deleted, unless ``deleted_ok``)."""
    rule = rules.get_rule(rule_id)
    if rule is None or (rule.get("deleted") and not deleted_ok):
        raise NotFound(f"no rule {rule_id}")
    return rule


def validated(document) -> dict:
    """A rule document validated (services/alerts/rules.py); BadRequest naming the fields."""
    return _loaded(load_rule, document)


def _loaded(load, document):
    try:
        return load(document)
    except RuleError as exc:
        raise BadRequest(exc.errors) from None


def definition(stored: dict) -> dict:
    """A stored rule (or version definition) as the document an admin would write."""
    skip = ("_id", "fingerprint", "version", "updated_at", "updated_by", "deleted")
    return {k: v for k, v in stored.items() if k not in skip}


def _write(
    rules: RuleStore, rule: dict, actor: str, action: str, current: dict | None, source: str | None = None
) -> dict:
    try:
        version = rules.write_version(rule, actor, action, current, source)
    except Conflict as exc:
        raise BadRequest(str(exc)) from None
    if version is None and current is not None:
        return {"id": rule["id"], "version": current["version"], "changed": False}
    return {"id": rule["id"], "version": version, "changed": True}
