"""The console's queue: saved views with counts, search, paging both ways, live rows,
bulk actions and "take it" (docs/console.md).

The cases service answers the page, its total and each view's count in one RPC
(``cases.queue``, services/cases/queue.py), with the signed-in user's
visibility applied in its query. A bulk action is the single action done once
per selected case through ``cases.act``: the same role check, the same 404 for a
case the user may not see, the same refusals, so a bulk action can do nothing a
user could not do one case at a time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote, urlencode

from nameko.exceptions import RemoteError

from services.common import settings
from services.common.overlap import run_together as together
from services.gateway import urgency
from services.gateway.actions import ACTIONS, body_from_form, load_body, refused, root_causes
from services.gateway.cases import act, case_page, owner_names, visible
from services.gateway.entrypoints import http_error_from
from services.gateway.errors import HttpError, Redirect, bad_request
from services.gateway.gate import safe_next
from services.gateway.i18n import translator
from services.gateway.routes import BREACH_STATES, CASE_STATUSES, QUEUE_VIEWS
from services.gateway.scope import viewer
from services.gateway.views import render

# each bulk action and the form fields it reads (the form holds every action's fields)
BULK_FIELDS = {
    "assign": ("assignee_kind", "assignee_id", "reason"),
    "acknowledge": ("reason",),
    "resolve": ("root_cause", "first_contact_resolution", "summary", "reason"),
}
BULK_ACTIONS = tuple(BULK_FIELDS)
FILTERS = ("view", "q", "level", "status", "breach", "touchpoint", "sort")
MAX_BULK = 200


def fetch(services, user: dict, q: dict) -> dict:
    """The page of the queue ``q`` asks for, with its total and each saved view's count;
    each case ``breaching`` when its next deadline passed or falls within the
    breaching-soon horizon (the same test as the ``breaching`` view's)."""
    request = {k: q[k] for k in FILTERS if q.get(k)}
    soon = int(settings.get("CONSOLE_BREACHING_SOON_MINUTES"))
    answer = services.cases.queue(
        {**request, "viewer": viewer(user), "limit": q["limit"], "skip": q["offset"], "soon_minutes": soon}
    )
    horizon = datetime.fromisoformat(answer["as_of"]) + timedelta(minutes=soon)
    items = []
    for case in answer["items"]:
        case = urgency.annotate(case)
        due = urgency.deadline(case)
        late = case["missed"] or (due is not None and due <= horizon)
        case["breaching"] = late and case.get("status") not in ("resolved", "closed")
        items.append(case)
    return {**answer, "items": items}


def link(q: dict, **changes) -> str:
    """The queue's URL for ``q`` with ``changes`` (the defaults left out)."""
    merged = {**q, **changes}
    defaults = {"view": "open", "sort": "urgency"}
    args = [(k, merged[k]) for k in FILTERS if merged.get(k) not in (None, "", defaults.get(k))]
    if merged.get("offset"):
        args.append(("offset", merged["offset"]))
    if merged.get("limit") != 50:
        args.append(("limit", merged["limit"]))
    return "/cases" + ("?" + urlencode(args) if args else "")


def paging(q: dict, total: int) -> dict:
    offset, limit = q["offset"], q["limit"]
    return {
        "previous": link(q, offset=max(0, offset - limit)) if offset > 0 else None,
        "next": link(q, offset=offset + limit) if offset + limit < total else None,
        "first": offset + 1 if total else 0,
        "last": min(offset + limit, total),
    }


def context(services, principal, q: dict, followups: bool = False) -> dict:
    """What the queue page (and its live rows) shows; ``followups``: also the banner of
    follow-up tasks, which only the page shows (the live rows poll without it)."""
    calls = [lambda: fetch(services, principal.user, q), lambda: owner_names(services)]
    if followups:
        calls.append(lambda: followups_due(services, principal.user))
    data, names, *banner = together(*calls)
    return {
        "page": data,
        "followups": banner[0] if banner else None,
        "query": q,
        "views": QUEUE_VIEWS,
        "paging": paging(q, data["total"]),
        "live_url": link(q).replace("/cases", "/cases/live", 1),
        "here": link(q),
        "names": names,
        "poll_ms": int(float(settings.get("CONSOLE_POLL_SECONDS")) * 1000),
        "link": lambda **changes: link(q, **changes),
    }


FOLLOWUPS_COUNTED = 100  # "100+" beyond


def followups_due(services, user: dict) -> dict:
    """The user's and their teams' open follow-up tasks (回访), for the queue's banner:
    ``{"open", "overdue", "more"}`` (``more``: over ``FOLLOWUPS_COUNTED``)."""
    request = {"assignees": [user["id"], *user.get("teams", [])], "state": "open"}
    rows = services.cases.list_followups({**request, "limit": FOLLOWUPS_COUNTED + 1})
    counted = rows[:FOLLOWUPS_COUNTED]
    return {
        "open": len(counted),
        "overdue": sum(1 for r in counted if r.get("overdue")),
        "more": len(rows) > FOLLOWUPS_COUNTED,
    }


def queue_page(services, principal, q: dict):
    return render(
        "queue.html",
        principal,
        statuses=CASE_STATUSES,
        breach_states=BREACH_STATES,
        bulk_actions=BULK_ACTIONS,
        root_causes=root_causes(),
        **context(services, principal, q, followups=True),
    )


def live_rows(services, principal, q: dict):
    """The rows and counts of the page the queue shows, for its live updates."""
    return render("queue_live.html", principal, **context(services, principal, q))


def bulk(services, principal, form):
    """Apply one action with one reason to every selected case; a page of outcomes."""
    action = form.get("action", "")
    if action not in BULK_ACTIONS:
        raise bad_request([f"action: one of {', '.join(BULK_ACTIONS)}"])
    case_ids = list(dict.fromkeys(form.getlist("case_id")))
    if not case_ids or len(case_ids) > MAX_BULK:
        raise bad_request([f"case_id: select 1 to {MAX_BULK} cases"])
    fields = {k: form.get(k) for k in BULK_FIELDS[action] if k in form}
    body = load_body(action, body_from_form(action, fields))
    outcomes = []
    for case_id in case_ids:
        outcomes.append({"case_id": case_id, **_one(services, principal, case_id, action, body)})
    return render(
        "bulk.html",
        principal,
        action=action,
        outcomes=outcomes,
        done=sum(1 for o in outcomes if o["outcome"] == "done"),
        back=safe_next(form.get("back") or "/cases"),
    )


def _one(services, principal, case_id: str, action: str, body: dict) -> dict:
    """One case of a bulk action: what the single action would answer."""
    if principal.role not in ACTIONS[action][0]:
        return {"outcome": "403"}
    try:
        done = _as_assigned(services, principal, case_id, action)
        act(services, principal.user, case_id, done, load_body(done, body) if done != action else body)
    except (HttpError, RemoteError) as exc:
        error = http_error_from(exc)
        if error is None or error.status not in (400, 403, 404, 409, 422):
            raise  # a bug or an outage: the whole request fails, nothing is hidden
        return {"outcome": str(error.status)}
    return {"outcome": "done"}


def _as_assigned(services, principal, case_id: str, action: str) -> str:
    """Assigning a case that has an owner is a reassignment (its reason is required)."""
    if action != "assign":
        return action
    return "reassign" if visible(services, principal.user, case_id).get("assignee") else "assign"


def take(services, principal, case_id: str, form):
    """Take it: the case becomes the signed-in user's if its owner is still the one the
    user saw (``seen``), then back to the case with a confirmation. The cases service
    checks and assigns in one conditional update (``cases.take_case``), so of two users
    taking it at the same instant one wins; the other gets the case page again, 409,
    saying someone else changed the owner."""
    seen = form.get("seen")
    if seen is None or len(seen) > 260:
        raise bad_request(["seen: the owner you saw (empty when unassigned)"])
    reason = translator(principal.language)("queue.take") if seen else None  # a handoff's reason
    request = {"case_id": case_id, "taker": viewer(principal.user), "seen": seen, "reason": reason}
    try:
        services.cases.take_case(request)
    except RemoteError as exc:
        if exc.exc_type == "Conflict":  # the owner changed first: the page again, with the news
            return _taken_by_other(services, principal, case_id, http_error_from(exc))
        error = refused(exc)  # a status that allows no assignment: 409; a refused value: 422
        if error is None:
            raise
        raise error from None
    raise Redirect(f"/cases/{quote(case_id, safe='')}?done=take")


def _taken_by_other(services, principal, case_id: str, error):
    """The case page (409) saying someone else changed the owner; a short page saying
    so when the case is no longer the user's to see (an agent's teammate took it)."""
    try:
        return case_page(services, principal, case_id, 409, "take", error)
    except RemoteError as exc:
        if exc.exc_type != "NotFound":
            raise
        return render("take_refused.html", principal, 409)
