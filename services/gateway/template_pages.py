"""The console's notification template pages: ``/templates`` (every template, shipped or
overridden) and the editor (``/templates/<language>/<template>``: the source, preview,
save, revert, test send), over notify's RPC (``notify_templates.py``)."""

from __future__ import annotations

from contracts.messages import NOTIFICATION_KINDS
from services.gateway.entrypoints import http_error_from
from services.gateway.errors import Redirect
from services.gateway.notify_templates import limited, preview, revert, save, show, test_send
from services.gateway.views import render


def list_page(services, principal):
    """Every template by kind, channel and language, shipped or overridden (version, who, when)."""
    rows = services.notify.list_templates()
    rows.sort(
        key=lambda r: (r["kind"] or "", r["channel"] or "", r["part"] or "", r["language"] or "", r["name"])
    )
    return render("templates.html", principal, rows=rows)


def editor_page(services, principal, language: str, template: str, status: int = 200, **extra):
    """The editor: the form's draft (else the current source), with ``extra`` (``error``,
    ``preview``, ``test``, ``done``) when a form came back."""
    shown = show(services, language, template)
    draft = extra.pop("draft", None)
    return render(
        "template.html",
        principal,
        status,
        tpl=shown,
        path=f"/templates/{language}/{template}",
        draft=shown["source"] if draft is None else draft,
        channel=extra.pop("channel", None),
        staff_kinds=NOTIFICATION_KINDS,
        **extra,
    )


def _form(form) -> dict:
    fields_ = {"source": form.get("source", "").replace("\r\n", "\n")}
    if form.get("channel"):
        fields_["channel"] = form.get("channel")
    return fields_


def form_action(services, principal, language: str, template: str, form, action: str):
    """One of the editor's buttons: ``preview``, ``save``, ``test`` or ``revert``; the
    page again with the outcome, or with the error (400 naming the field, 404, 429)."""
    draft = _form(form)
    keep = {"draft": draft["source"], "channel": draft.get("channel")}
    try:
        if action == "preview":
            done = preview(services, language, template, draft)
            return editor_page(services, principal, language, template, preview=done, **keep)
        if action == "test":
            done = test_send(services, principal, language, template, draft)
            status = 429 if limited(done) else 200
            return editor_page(services, principal, language, template, status, test=done, **keep)
        if action == "save":
            reason = form.get("reason") or None
            save(services, principal, language, template, {"source": draft["source"], "reason": reason})
        else:
            revert(services, principal, language, template, {"reason": form.get("reason", "")})
    except Exception as exc:
        error = http_error_from(exc)
        if error is None or error.status not in (400, 404):
            raise
        return editor_page(services, principal, language, template, error.status, error=error, **keep)
    raise Redirect(f"/templates/{language}/{template}?done={'saved' if action == 'save' else 'reverted'}")
