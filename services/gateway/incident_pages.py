"""The console's incident pages (事件): the incidents group alerts opened, each with its
children's counts; one incident with its group, what was observed, its children, and
the form that resolves it with its children. Over the cases service's RPC, for owners
and admins (routes.py); ``GatewayService`` mixes ``IncidentPages`` in."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from marshmallow import ValidationError
from nameko.exceptions import RpcTimeout, UnknownService

from services.gateway import cases
from services.gateway.actions import ResolveIncidentBody, body_from_form, root_causes
from services.gateway.entrypoints import route
from services.gateway.errors import HttpError, Redirect, bad_request
from services.gateway.inputs import query
from services.gateway.views import render

log = logging.getLogger(__name__)


def storm_figures(services, case: dict) -> dict | None:
    """A storm incident's figures (docs/cases.md "storms"): its rule's cases linked, the
    matches refused onto its storm alerts (the alerts service counts them) and their
    sum, every match of the storm; ``available: False`` when the alerts service does
    not answer. None for any other incident."""
    group = case.get("group") or {}
    if group.get("condition") != "storm":
        return None
    entries = case.get("alerts") or []
    ids = sorted({e["alert_id"] for e in (entries.values() if isinstance(entries, dict) else entries)})
    cases_linked = (case.get("child_counts") or {}).get("total", 0)
    figures: dict[str, Any] = {"rule": case.get("rule") or {}, "cases": cases_linked, "available": False}
    try:
        storms = list(services.alerts.storm_counts(ids[:100]).values())
    except (RpcTimeout, UnknownService) as exc:
        log.warning("incident %s: storm figures not available (%s)", case["_id"], type(exc).__name__)
        return figures
    suppressed = sum(s["suppressed"] for s in storms)
    periods = sorted((s["since"], s["until"]) for s in storms)
    return {
        **figures,
        "available": True,
        "periods": periods,
        "max_alerts": storms[0]["max_alerts"] if storms else None,
        "suppressed": suppressed,
        "total": cases_linked + suppressed,
    }


def incident_page(services, principal, case_id: str, status: int = 200, error=None, done=None):
    case = cases.visible(services, principal.user, case_id)
    if case.get("kind") != "incident":  # a customer case: its own page (or the form's error)
        if error is not None:
            raise error
        raise Redirect(f"/cases/{quote(case_id, safe='')}")
    return render(
        "incident.html",
        principal,
        status=status,
        case=case,
        storm=storm_figures(services, case),
        root_causes=root_causes(),
        error=error,
        done=done,
    )


def resolve_form(services, principal, case_id: str, form):
    """The incident page's form: resolve (with the children when ticked), then back."""
    raw = body_from_form("resolve", form)
    raw["resolve_children"] = form.get("resolve_children") in ("on", "true", "1")
    try:
        body = ResolveIncidentBody().load(raw)
    except ValidationError as exc:
        return incident_page(services, principal, case_id, 400, bad_request(exc, "form"))
    try:
        cases.resolve_incident(services, principal.user, case_id, body)
    except HttpError as exc:
        if exc.status == 404:
            raise
        return incident_page(services, principal, case_id, exc.status, exc)
    raise Redirect(f"/incidents/{quote(case_id, safe='')}?done=resolved")


class IncidentPages:
    """The incident pages, mixed into ``GatewayService`` (which provides ``services``)."""

    services: Any

    @route("console.incidents")
    def incidents_page(self, request, principal):
        q = query(request, "console.incidents")
        data = cases.incidents(self.services, request, q)
        return render("incidents.html", principal, data=data, status_filter=q.get("status") or "")

    @route("console.incident")
    def incident(self, request, principal, case_id):
        q = query(request, "console.incident")
        return incident_page(self.services, principal, case_id, done=q.get("done"))

    @route("console.incident_resolve")
    def incident_resolve(self, request, principal, case_id):
        return resolve_form(self.services, principal, case_id, request.form)
