"""Customers' profiles as the caller may see them, over the profiles service's RPC.

A profile names cases (its open cases, timeline entries); ``scoped`` leaves
out the cases the caller may not open (scope.py), so a profile never names a
case that ``GET /api/v1/cases/<id>`` would answer 404 for. ``search`` is
``GET /api/v1/profiles`` and ``/customers``; ``profile_page`` is
``/customers/<customer_id>``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Response

from services.common.rpc import PAGE_MAX
from services.gateway.charts import line_chart
from services.gateway.entrypoints import http_error_from
from services.gateway.errors import Redirect, bad_request
from services.gateway.i18n import translator
from services.gateway.pagination import page
from services.gateway.scope import named_cases, only_cases, viewer
from services.gateway.views import render

TOP_ALERTS = 5  # the profile page's most frequent alerts
TOP_TERMS = 10  # and its most frequent comment keywords
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}  # each chart's y axis


def scoped(services, user: dict, profile: dict) -> dict:
    """The profile naming only the cases the caller may open (scope.py): the customer's
    cases the cases service shows to ``visible_to``, read until every case the profile
    names is found or the list ends."""
    named = named_cases(profile)
    if not named:
        return profile
    visible: set[str] = set()
    for customer in (profile["_id"], *profile.get("merged_ids", ())):
        skip = 0
        while not named <= visible:
            rows = services.cases.list_cases(
                limit=PAGE_MAX, skip=skip, customer=customer, visible_to=viewer(user)
            )
            visible |= {c["_id"] for c in rows}
            if len(rows) < PAGE_MAX:
                break
            skip += len(rows)
    return only_cases(profile, visible)


def search(services, request, user: dict, q: dict) -> dict:
    """A page of the profiles matching every key given (name, phone, email); none given: empty."""
    keys = {k: q[k] for k in ("name", "phone", "email") if q.get(k)}
    if not keys:
        return {"items": [], "limit": q["limit"], "offset": q["offset"], "next": None}
    rows = services.profiles.search_profiles(limit=q["limit"] + 1, skip=q["offset"], **keys)
    return page(request, [scoped(services, user, p) for p in rows], q["limit"], q["offset"])


def profile_or_none(services, customer_id: str, timeline_limit: int, timeline_skip: int = 0) -> dict | None:
    """The customer's profile, or None while the profiles service has none yet."""
    try:
        return services.profiles.get_profile(
            customer_id, timeline_limit=timeline_limit, timeline_skip=timeline_skip
        )
    except Exception as exc:
        error = http_error_from(exc)
        if error is None or error.status != 404:
            raise
        return None


def timeline_links(customer_id: str, q: dict, shown: int) -> dict:
    """Newer / older pages of the timeline (newest first); older while a page came back full."""
    limit, offset = q["timeline_limit"], q["timeline_offset"]
    base = f"/customers/{quote(customer_id, safe='')}?"

    def at(skip: int) -> str:
        return base + urlencode({"timeline_limit": limit, "timeline_offset": skip})

    return {
        "newer": at(max(0, offset - limit)) if offset > 0 else None,
        "older": at(offset + limit) if shown == limit else None,
    }


def profile_page(services, principal, customer_id: str, q: dict):
    """The profile page (404 page while the customer has no profile yet): identity, the
    30/90-day scores with their trend, contacts per channel, what the comments are about,
    top terms and categories, the most-triggered alerts, open cases, and a paged timeline."""
    profile = profile_or_none(services, customer_id, q["timeline_limit"], q["timeline_offset"])
    if profile is None:
        return render("profile.html", principal, status=404, customer_id=customer_id, profile=None)
    profile = scoped(services, principal.user, profile)
    top = sorted((profile.get("alert_counts") or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_ALERTS]
    words = services.profiles.word_frequency(customer_id=profile["_id"], limit=TOP_TERMS)
    t = translator(principal.language)
    charts = {
        kind: line_chart(
            f"chart-{kind}",
            t("profile.chart", score=kind.upper()),
            [str(p["at"])[5:10] for p in points],
            {kind.upper(): [p["value"] for p in points]},
            SCALES.get(kind),
        )
        for kind, points in (profile.get("score_series") or {}).items()
    }
    return render(
        "profile.html",
        principal,
        customer_id=customer_id,
        done=q.get("done"),
        profile=profile,
        top_alerts=top,
        words=words,
        charts=charts,
        timeline=timeline_links(customer_id, q, len(profile.get("timeline") or ())),
    )


def export_download(services, customer_id: str) -> Response:
    """Everything the profiles service keeps about the customer, as a JSON file."""
    document = services.profiles.export_customer(customer_id)
    response = Response(json.dumps(document, ensure_ascii=False, indent=2), mimetype="application/json")
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", customer_id)
    response.headers["Content-Disposition"] = f'attachment; filename="customer-{name}.json"'
    return response


def merge_form(services, principal, customer_id: str, form):
    """Merge the id in ``merged`` into this customer: the admin types that id twice
    (``merged``, ``confirm``) and gives a reason; the profiles service records who and why."""
    merged, reason = form.get("merged", "").strip(), form.get("reason", "").strip()
    errors = []
    if not merged:
        errors.append("merged: the customer id to merge into this one")
    elif form.get("confirm", "").strip() != merged:
        errors.append("confirm: type the merged customer id again")
    if not reason:
        errors.append("reason: why they are the same person")
    return _confirmed(
        errors,
        customer_id,
        "merge",
        lambda: services.profiles.merge_customers(customer_id, merged, principal.user["id"], reason),
    )


def erase_form(services, principal, customer_id: str, form):
    """Erase the customer's personal data: the admin types the customer id (``confirm``)
    and the request's reference; the profiles service keeps the audit entry."""
    request_ref = form.get("request_ref", "").strip()
    errors = []
    if form.get("confirm", "").strip() != customer_id:
        errors.append("confirm: type the customer id to confirm")
    if not request_ref:
        errors.append("request_ref: the data-subject request's reference")
    return _confirmed(
        errors,
        customer_id,
        "erase",
        lambda: services.profiles.erase_customer(customer_id, principal.user["id"], request_ref),
    )


def _confirmed(errors: list[str], customer_id: str, done: str, act):
    """Refuse (400 naming each field) or act, then back to the profile saying what was done."""
    if errors:
        raise bad_request(errors)
    act()
    raise Redirect(f"/customers/{quote(customer_id, safe='')}?done={done}")
