"""The console's lexicon page (``/lexicon``): the admin's additions and removals, their
versions with a revert button each, a form to add or remove a word, and a box to try a
text against the live lexicon or with the word of the form as an unsaved draft, and
(for admins) a form to add an aspect code with its labels. The
work is the alerts service's (services/gateway/lexicon.py for the API's side)."""

from __future__ import annotations

from urllib.parse import quote

from services.gateway.entrypoints import http_error_from
from services.gateway.errors import Redirect
from services.gateway.lexicon import add_aspect, edit, revert
from services.gateway.views import render
from textanalysis import lexicon as lists

HISTORY = 50
FORM_FIELDS = ("op", "list", "word", "aspect")


def page(services, principal, status: int = 200, **extra):
    """The page, with ``extra`` (``error``, ``result``, ``form``) when a form came back."""
    return render(
        "lexicon.html",
        principal,
        status,
        overview=services.alerts.lexicon(),
        history=services.alerts.lexicon_history(HISTORY, None),
        lists=lists.LISTS,
        form=extra.pop("form", {}),
        aspect_form=extra.pop("aspect_form", {}),
        **extra,
    )


def _edit_fields(form) -> dict:
    fields = {k: form.get(k, "").strip() for k in FORM_FIELDS}
    return {k: v for k, v in fields.items() if v or k in ("word",)}


def save(services, principal, form):
    """Add or remove the form's word: back to the page (303), or the page with the error."""
    fields = _edit_fields(form)
    try:
        edit(services, principal, {**fields, "reason": form.get("reason", "")})
    except Exception as exc:
        error = http_error_from(exc)
        if error is None or error.status not in (400, 409):
            raise
        return page(services, principal, error.status, error=error, form=fields)
    raise Redirect("/lexicon")


def save_aspect(services, principal, form):
    """Add the form's aspect code with its labels: back to the page (303), or the page
    with the error (400 naming the field)."""
    fields = {k: form.get(k, "").strip() for k in ("code", "label_zh", "label_en")}
    body = {
        "code": fields["code"],
        "labels": {"zh-CN": fields["label_zh"], "en": fields["label_en"]},
        "reason": form.get("reason", ""),
    }
    try:
        add_aspect(services, principal, body)
    except Exception as exc:
        error = http_error_from(exc)
        if error is None or error.status != 400:
            raise
        return page(services, principal, error.status, error=error, aspect_form=fields)
    raise Redirect("/lexicon")


def undo(services, principal, version: str, form):
    """Revert one version: back to the page (303), or the page with the error (409: a later
    edit changed the word)."""
    try:
        revert(services, principal, version, {"reason": form.get("reason", "")})
    except Exception as exc:
        error = http_error_from(exc)
        if error is None or error.status not in (400, 404, 409):
            raise
        return page(services, principal, error.status, error=error)
    raise Redirect(f"/lexicon#v{quote(version, safe='')}")


def try_text(services, principal, form):
    """What the analysis makes of the form's text, with the form's word as a draft when
    one is filled in (nothing is stored)."""
    fields = _edit_fields(form)
    draft = [fields] if fields.get("word") else []
    text = form.get("text", "")
    try:
        result = services.alerts.analyze_text(text, draft or None)
    except Exception as exc:
        error = http_error_from(exc)
        if error is None or error.status != 400:
            raise
        return page(services, principal, 400, error=error, form={**fields, "text": text})
    return page(services, principal, result=result, form={**fields, "text": text})
