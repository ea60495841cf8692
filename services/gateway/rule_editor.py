"""The rules pages' forms: a rule as YAML text, and the dry-run (backtest) request.

The alerts service validates rules (``create_rule`` / ``update_rule`` answer
BadRequest with ``path: message`` lines, e.g. ``when.all.0.op: ...``); the
gateway only turns the editor's text into a document and shows those lines.
Versions and their unified diffs (difflib) come from ``alerts.get_rule``.
"""

from __future__ import annotations

import yaml
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.gateway.errors import bad_request
from services.gateway.lexicon import EditFields

MAX_TEXT = 64 * 1024
# Stored bookkeeping that is not part of the document an admin writes.
BOOKKEEPING = ("_id", "fingerprint", "version", "updated_at", "updated_by", "deleted")


def document_text(rule: dict) -> str:
    """A stored rule as the YAML an admin edits (id first is YAML's sort order anyway)."""
    body = {k: v for k, v in rule.items() if k not in BOOKKEEPING}
    body.setdefault("id", rule.get("_id"))
    return yaml.safe_dump(body, allow_unicode=True, sort_keys=True, default_flow_style=False)


def parse_document(text: str) -> dict:
    """The editor's YAML (or JSON) as a rule document; 400 naming ``document`` otherwise."""
    return yaml_mapping(text, "a rule is a mapping (id, name, level, owner, channels, when, ...)")


def yaml_mapping(text: str, shape: str, max_text: int = MAX_TEXT) -> dict:
    """A console editor's YAML (or JSON) text as a mapping; 400 naming ``document`` when it
    is longer than ``max_text``, not YAML, or not a mapping (``shape`` says what it should be)."""
    if len(text) > max_text:
        raise bad_request([f"document: longer than {max_text} characters"])
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise bad_request([f"document: invalid YAML: {exc}".replace("\n", " ")]) from None
    if not isinstance(document, dict):
        raise bad_request([f"document: {shape}"])
    return document


class DryRunBody(Schema):
    """``POST /api/v1/rules/backtest``: a stored rule's id or an unsaved rule document."""

    class Meta:
        unknown = RAISE

    rule = fields.Raw(required=True, metadata={"description": "a rule id, or a rule document (a draft)"})
    since = fields.String(
        load_default="7d",
        validate=validate.Length(min=1, max=64),
        metadata={"description": "30d / 12h before now, or ISO 8601"},
    )
    until = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))
    examples = fields.Integer(load_default=10, validate=validate.Range(0, 50))
    lexicon_edits = fields.List(
        fields.Nested(EditFields),
        load_default=None,
        validate=validate.Length(max=200),
        metadata={"description": "a draft of unsaved lexicon edits to replay with (docs/rules.md)"},
    )


def load_dry_run(document) -> dict:
    if not isinstance(document, dict):
        raise bad_request(["body: must be a JSON object"])
    try:
        body = DryRunBody().load(document)
    except ValidationError as exc:
        raise bad_request(exc, "body") from None
    if not body["rule"] or not isinstance(body["rule"], (str, dict)):
        raise bad_request(["body.rule: a rule id (string) or a rule document (object)"])
    return body
