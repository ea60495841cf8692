"""Customers' profiles as the caller may see them, over the profiles service's RPC.

A profile names cases (its open cases, timeline entries); ``scoped`` leaves
out the cases the caller may not open (scope.py), so a profile never names a
case that ``GET /api/v1/cases/<id>`` would answer 404 for. ``search`` is
``GET /api/v1/profiles`` and ``/customers``; ``profile_page`` is
``/customers/<customer_id>``.
"""

from __future__ import annotations

from datetime import timedelta

from contracts.base import utcnow
from services.common.overlap import run_together as together
from services.common.rpc import PAGE_MAX
from services.gateway import optouts
from services.gateway.charts import line_chart
from services.gateway.entrypoints import http_error_from
from services.gateway.i18n import translator
from services.gateway.pagination import page
from services.gateway.scope import named_cases, only_cases, viewer
from services.gateway.views import render

TOP_ALERTS = 5  # the profile page's most frequent alerts
TOP_TERMS = 10  # and most frequent words of the customer's comments
TERM_DAYS = 90  # over these last days
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


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


def profile_page(services, principal, customer_id: str, q: dict):
    """The profile page (404 page while the customer has no profile yet): identity,
    30/90-day scores with a chart of each score's last 90 days, contacts per channel,
    the customer's opt-outs per channel, the most-triggered alerts, the top terms, open
    cases, a paged timeline; for admins the merge / export / erase forms."""
    limit, skip = q["timeline_limit"], q.get("timeline_skip", 0)
    since = (utcnow() - timedelta(days=TERM_DAYS)).isoformat()
    profile, words = together(
        lambda: profile_or_none(services, customer_id, limit, skip),
        lambda: services.profiles.word_frequency(customer_id=customer_id, since=since, limit=TOP_TERMS),
    )
    if profile is None:
        return render("profile.html", principal, status=404, customer_id=customer_id, profile=None)
    profile = scoped(services, principal.user, profile)
    top = sorted((profile.get("alert_counts") or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_ALERTS]
    t = translator(principal.language)
    charts = {
        kind: line_chart(
            f"chart-score-{kind}",
            t(f"profile.chart.{kind}"),
            [p["at"][:10] for p in pts],
            {kind.upper(): [p["value"] for p in pts]},
            bounds=SCALES[kind],
        )
        for kind, pts in (profile.get("score_points") or {}).items()
    }
    total = profile.get("timeline_total", len(profile["timeline"]))
    paging = {
        "newer": max(0, skip - limit) if skip else None,
        "older": skip + limit if skip + limit < total else None,
        "limit": limit,
        "first": skip + 1 if total else 0,
        "last": min(skip + limit, total),
        "total": total,
    }
    return render(
        "profile.html",
        principal,
        customer_id=customer_id,
        profile=profile,
        top_alerts=top,
        terms=words.get("keywords", [])[:TOP_TERMS],
        charts=charts,
        paging=paging,
        optouts=optouts.status(services, customer_id),
        done=q.get("done"),
    )
