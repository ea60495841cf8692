"""Notification templates over HTTP (``/api/v1/templates…``) and the console's editor
(``/templates``): the work is notify's (its template RPCs: list, show, save and revert
an override, preview a draft, test-send a draft to the signed-in admin). The console's
pages are in ``template_pages.py``."""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from contracts.base import Pattern
from services.gateway.errors import HttpError
from services.gateway.lexicon import load

MAX_SOURCE = 100_000  # notify's limit (services/notify/overrides.py)
SOURCE = fields.String(required=True, validate=validate.Length(min=1, max=MAX_SOURCE))
CHANNEL = fields.String(
    load_default=None,
    validate=Pattern(r"^[a-z_]{1,32}$", error="a channel name"),
    metadata={"description": "default: the channel the template is for (email for subject, txt, html)"},
)
REASON = validate.Length(min=1, max=500)


class _Body(Schema):
    class Meta:
        unknown = RAISE


class TemplateSaveBody(_Body):
    """``PUT /api/v1/templates/{language}/{template}``: the new source, and why."""

    source = SOURCE
    reason = fields.String(load_default=None, validate=REASON)


class TemplateRevertBody(_Body):
    """``POST …/revert``: why the shipped template applies again."""

    reason = fields.String(required=True, validate=REASON)


class TemplateDraftBody(_Body):
    """``POST …/preview`` and ``POST …/test``: a draft (nothing is stored) and the channel."""

    source = SOURCE
    channel = CHANNEL


def template_name(language: str, template: str) -> str:
    return f"{language}/{template}"


def listing(services) -> dict:
    return {"items": services.notify.list_templates()}


def show(services, language: str, template: str) -> dict:
    return services.notify.get_template(template_name(language, template))


def save(services, principal, language: str, template: str, document) -> dict:
    body = load(TemplateSaveBody, document)
    name = template_name(language, template)
    return services.notify.save_template(name, body["source"], by=principal.user["id"], reason=body["reason"])


def revert(services, principal, language: str, template: str, document) -> dict:
    body = load(TemplateRevertBody, document)
    name = template_name(language, template)
    return services.notify.delete_template(name, by=principal.user["id"], reason=body["reason"])


def preview(services, language: str, template: str, document) -> dict:
    body = load(TemplateDraftBody, document)
    return services.notify.preview_template(
        template_name(language, template), body["source"], body["channel"]
    )


def test_send(services, principal, language: str, template: str, document) -> dict:
    """The draft sent to the caller's own destination; a refusal for the per-user limit
    is a 429 with Retry-After on the API (the console shows it on the page)."""
    body = load(TemplateDraftBody, document)
    name = template_name(language, template)
    return services.notify.send_template_test(name, body["source"], body["channel"], principal.user["id"])


def limited(outcome: dict) -> HttpError | None:
    if outcome.get("reason") != "rate_limited":
        return None
    seconds = str(outcome.get("retry_after") or 1)
    return HttpError(429, f"too many test sends; retry in {seconds} s", headers={"Retry-After": seconds})
