"""The lexicon over HTTP: the admin's overlay, its versions, an edit, a new aspect code,
a revert, and what the analysis makes of a text (with a draft of unsaved edits). The
alerts service keeps the overlay (services/common/lexicon.py) and checks an aspect code
against the live set; every analysing service follows it."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from contracts.base import Pattern
from services.gateway.errors import bad_request
from textanalysis import lexicon as lists

WORD = validate.Length(min=1, max=lists.MAX_WORD_CHARS)
REASON = validate.Length(min=1, max=lists.MAX_REASON_CHARS)
CODE = Pattern(lists.NEW_CODE, error="2 to 40 characters of a-z and _")
LABEL = validate.Length(min=1, max=lists.MAX_LABEL_CHARS)


class EditFields(Schema):
    class Meta:
        unknown = RAISE

    op = fields.String(required=True, validate=validate.OneOf(("add", "remove")))
    list = fields.String(required=True, validate=validate.OneOf(lists.LISTS))
    word = fields.String(required=True, validate=WORD)
    aspect = fields.String(
        load_default=None,
        allow_none=True,
        validate=CODE,
        metadata={"description": "the aspect code (shipped or added live), when adding to the aspects list"},
    )


class LexiconEditBody(EditFields):
    """``POST /api/v1/lexicon/edits``: add or remove one word, and why."""

    reason = fields.String(required=True, validate=REASON)


class AspectLabels(Schema):
    class Meta:
        unknown = RAISE

    zh_cn = fields.String(required=True, validate=LABEL, data_key="zh-CN")
    en = fields.String(required=True, validate=LABEL)


class LexiconAspectBody(Schema):
    """``POST /api/v1/lexicon/aspects``: a new aspect code, its labels, and why."""

    class Meta:
        unknown = RAISE

    code = fields.String(required=True, validate=CODE)
    labels = fields.Nested(AspectLabels, required=True)
    reason = fields.String(required=True, validate=REASON)


class LexiconRevertBody(Schema):
    """``POST /api/v1/lexicon/versions/{version}/revert``: why."""

    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=REASON)


class AnalyzeBody(Schema):
    """``POST /api/v1/lexicon/analyze``: a text, and optionally a draft of unsaved edits."""

    class Meta:
        unknown = RAISE

    text = fields.String(required=True, validate=validate.Length(min=1, max=5000))
    edits = fields.List(fields.Nested(EditFields), load_default=None, validate=validate.Length(max=200))


def load(schema: type[Schema], document) -> dict:
    if not isinstance(document, dict):
        raise bad_request(["body: must be a JSON object"])
    try:
        return schema().load(document)
    except ValidationError as exc:
        raise bad_request(exc, "body") from None


def version_number(version: str) -> int:
    if not version.isdigit() or not 1 <= int(version) <= 10**12:
        raise bad_request([f"version: a version number ≥ 1, got {version!r}"])
    return int(version)


def edit(services, principal, document) -> tuple[int, dict]:
    body = load(LexiconEditBody, document)
    reason = body.pop("reason")
    if body["aspect"] is None:
        body.pop("aspect")
    done = services.alerts.lexicon_edit(body, reason, actor=principal.user["id"])
    return (201 if done["changed"] else 200), done


def add_aspect(services, principal, document) -> tuple[int, dict]:
    body = load(LexiconAspectBody, document)
    labels = {"zh-CN": body["labels"]["zh_cn"], "en": body["labels"]["en"]}
    done = services.alerts.lexicon_add_aspect(
        body["code"], labels, body["reason"], actor=principal.user["id"]
    )
    return 201, done


def revert(services, principal, version: str, document) -> tuple[int, dict]:
    body = load(LexiconRevertBody, document)
    done = services.alerts.lexicon_revert(version_number(version), body["reason"], actor=principal.user["id"])
    return 201, done


def analyze(services, document) -> dict:
    body = load(AnalyzeBody, document)
    edits = [{k: v for k, v in e.items() if v is not None} for e in body["edits"] or []]
    return services.alerts.analyze_text(body["text"], edits or None)
