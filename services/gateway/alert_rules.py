"""Alert rules over the alerts service's RPC: the list, the editor's save, dry-runs.

rule_editor.py turns the editor's YAML into a rule document and reads the
dry-run request; the alerts service validates rules and answers BadRequest
with ``path: message`` lines, which the editor page shows (400) beside the
text as it was typed.
"""

from __future__ import annotations

from urllib.parse import quote

from services.gateway.entrypoints import http_error_from
from services.gateway.errors import Redirect
from services.gateway.pagination import page
from services.gateway.rule_editor import load_dry_run, parse_document
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


def save_form(services, principal, text: str, rule_id: str | None = None):
    """Save the editor's YAML: back to the rule page (303), or the editor with the errors."""
    actor = principal.user["id"]
    try:
        document = parse_document(text)
        if rule_id:
            saved = services.alerts.update_rule(rule_id, document, actor=actor)
        else:
            saved = services.alerts.create_rule(document, actor=actor)
    except Exception as exc:
        error = http_error_from(exc)
        if error is None or error.status != 400:
            raise
        return render("rule_edit.html", principal, 400, rule_id=rule_id, text=text, error=error)
    raise Redirect(f"/rules/{quote(saved['id'], safe='')}")


def dry_run_form(services, principal, form):
    """Dry-run the editor's draft (``document``) or a stored rule (``rule_id``)."""
    text, rule_id = form.get("document", ""), form.get("rule_id", "")
    try:
        rule = parse_document(text) if text.strip() else rule_id
        body = load_dry_run({"rule": rule, "since": form.get("since") or DEFAULT_DRY_RUN_SINCE})
        result = backtest(services, body)
    except Exception as exc:
        error = http_error_from(exc)
        if error is None or error.status not in (400, 404):
            raise
        return render("rule_edit.html", principal, error.status, rule_id=rule_id, text=text, error=error)
    return render("rule_edit.html", principal, rule_id=rule_id, text=text, result=result)
