"""The console's opt-out page (``/optouts``): the opt-outs in force with a search by
customer id and channel, a form to record one with a reason, a form per row to withdraw
it with a reason, and, searching one customer, that customer's history (who, when,
why). The work is ``optouts.py``'s (over the notify service's RPC)."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from services.gateway.entrypoints import http_error_from
from services.gateway.errors import Redirect
from services.gateway.optouts import CHANNELS, add, listing, remove
from services.gateway.views import render

HISTORY_SHOWN = 50


def page(services, request, principal, q: dict, status_code: int = 200, **extra):
    """``/optouts``: the opt-outs in force (search), the add form, a remove form per row,
    and, searching one customer, that customer's history (who, when, why)."""
    rows = listing(services, q)
    history = []
    customer = q.get("customer")
    if customer:
        consent = services.notify.get_customer_consent(customer)
        history = list(reversed(consent.get("history") or []))[:HISTORY_SHOWN]
    more = len(rows) > q["limit"]
    args = {k: v for k, v in (("customer", customer), ("channel", q.get("channel"))) if v}
    return render(
        "optouts.html",
        principal,
        status_code,
        rows=rows[: q["limit"]],
        history=history,
        channels=CHANNELS,
        q=q,
        newer=urlencode({**args, "offset": max(0, q["offset"] - q["limit"])}) if q["offset"] else None,
        older=urlencode({**args, "offset": q["offset"] + q["limit"]}) if more else None,
        done=q.get("done"),
        form=extra.pop("form", {}),
        **extra,
    )


def form_add(services, request, principal, q: dict):
    form = {k: request.form.get(k, "").strip() for k in ("customer_id", "channel", "reason")}
    try:
        add(services, principal.user, form, "form")
    except Exception as exc:
        return _form_error(services, request, principal, q, exc, form)
    raise Redirect(f"/optouts?{urlencode({'customer': form['customer_id'], 'done': 'added'})}")


def form_remove(services, request, principal, q: dict, customer_id: str, channel: str):
    form = {"reason": request.form.get("reason", "").strip()}
    try:
        remove(services, principal.user, customer_id, channel, form, "form")
    except Exception as exc:
        return _form_error(services, request, principal, q, exc, {"customer_id": customer_id})
    raise Redirect(f"/optouts?customer={quote(customer_id, safe='')}&done=removed")


def _form_error(services, request, principal, q, exc: Exception, form: dict):
    error = http_error_from(exc)
    if error is None or error.status not in (400, 404):
        raise exc
    return page(services, request, principal, q, error.status, error=error, form=form)
