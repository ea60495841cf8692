"""Alert rules over the alerts service's RPC: the list, the editor's save, dry-runs.

rule_editor.py turns the editor's YAML into a rule document and reads the
dry-run request; the alerts service validates rules and answers BadRequest
with ``path: message`` lines, which the editor page shows (400) beside the
text as it was typed.

The text is saved with the rule as its ``source`` (comments kept) and is what the
editor opens next time; a rule with no source for its current definition opens as
generated YAML. A dry-run answers the editor's form with every field it was sent
(the rule being edited, or none for a new rule; the text; the window), so "save"
after a dry-run saves what it would have saved before.
"""

from __future__ import annotations

from urllib.parse import quote

from services.gateway.entrypoints import http_error_from
from services.gateway.errors import Redirect
from services.gateway.pagination import page
from services.gateway.rule_editor import document_text, load_dry_run, parse_document
from services.gateway.views import render

DEFAULT_DRY_RUN_SINCE = "7d"  # the dry-run form's window when it names none


def listing(services, request, q: dict) -> dict:
    """A page of the rules (``q``: routes.Page)."""
    rules = services.alerts.list_rules()
    return page(request, rules[q["offset"] : q["offset"] + q["limit"] + 1], q["limit"], q["offset"])


def backtest(services, body: dict) -> dict:
    """A dry-run of ``body`` (rule_editor.load_dry_run) against recent feedback; nothing is written."""
    edits = [{k: v for k, v in e.items() if v is not None} for e in body.get("lexicon_edits") or []]
    return services.alerts.backtest(
        body["rule"],
        body["since"],
        until=body["until"],
        examples=body["examples"],
        lexicon_edits=edits or None,
    )


def editor_text(found: dict) -> str:
    """What the editor opens for a stored rule (``alerts.get_rule``): the text typed for it,
    else its definition as YAML."""
    return found.get("source") or document_text(found["rule"])


def save_form(services, principal, text: str, rule_id: str | None = None):
    """Save the editor's YAML (kept as the version's source): back to the rule page (303),
    or the editor with the errors."""
    actor = principal.user["id"]
    try:
        document = parse_document(text)
        if rule_id:
            saved = services.alerts.update_rule(rule_id, document, actor=actor, source=text)
        else:
            saved = services.alerts.create_rule(document, actor=actor, source=text)
    except Exception as exc:
        error = http_error_from(exc)
        if error is None or error.status != 400:
            raise
        return render("rule_edit.html", principal, 400, rule_id=rule_id, text=text, error=error)
    raise Redirect(f"/rules/{quote(saved['id'], safe='')}")


def dry_run_form(services, principal, form):
    """Dry-run the editor's draft (``document``) or a stored rule (``rule_id`` alone, the
    rule page's form), answering the editor with the form as it was sent: the rule being
    edited (none: a new rule), the text and the window. A stored rule's dry-run opens
    the editor on its text."""
    text, rule_id = form.get("document", ""), form.get("rule_id", "")
    since = form.get("since") or DEFAULT_DRY_RUN_SINCE
    kept = {"rule_id": rule_id, "text": text, "since": since}
    try:
        rule = parse_document(text) if text.strip() else rule_id
        body = load_dry_run({"rule": rule, "since": since})
        result = backtest(services, body)
        if not text.strip():
            kept["text"] = editor_text(services.alerts.get_rule(rule_id))
    except Exception as exc:
        error = http_error_from(exc)
        if error is None or error.status not in (400, 404):
            raise
        return render("rule_edit.html", principal, error.status, error=error, **kept)
    return render("rule_edit.html", principal, result=result, **kept)
