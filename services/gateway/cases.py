"""Cases as the caller may see and work them, over the cases service's RPC.

* ``listing``: a page of the queue (``GET /api/v1/cases``, ``/cases``): the
  cases service applies ``visible_to`` (scope.py); the mine / team /
  unassigned filters narrow it here; sorted by urgency (urgency.py) or newest
  first, each case with its SLA countdown.
* ``visible``: one case, or 404 for a case the caller may not see; ``one`` is
  that case as ``GET /api/v1/cases/{case_id}`` answers it, with its ``aspects``.
* ``about``: what the customer's comment is about (textanalysis aspect codes),
  computed from the case's triggering event text, never stored; ``analysis``: the
  comment's whole analysis and the words behind it, likewise.
* ``incidents`` / ``resolve_incident``: incidents (the parent cases group alerts
  open) for owners and admins, and resolving one with its children
  (``GET /api/v1/incidents``, ``POST /api/v1/incidents/{case_id}/resolve``).
* ``act``: a case action (actions.py: bodies, roles) on a visible case, the
  cases service's refusals as 409 / 422; ``form_action`` does it from the
  case page's forms and ``case_page`` renders that page.
"""

from __future__ import annotations

from urllib.parse import quote

from nameko.exceptions import RemoteError

from services.common.overlap import run_together as together
from services.gateway import urgency
from services.gateway.actions import available, body_from_form, load_body, refused, root_causes
from services.gateway.errors import HttpError, Redirect
from services.gateway.i18n import translator
from services.gateway.pagination import next_link, page, scan
from services.gateway.profiles import profile_or_none
from services.gateway.scope import in_scope, viewer
from services.gateway.trigger import sentences, shown_value
from services.gateway.views import render
from textanalysis.text import analyze


def annotated(data: dict) -> dict:
    """A page of cases with each one's SLA ``deadline`` and ``missed`` flag (the countdowns)."""
    return {**data, "items": [urgency.annotate(c) for c in data["items"]]}


def listing(services, request, user: dict, q: dict) -> dict:
    """A page of the cases ``user`` may see, filtered by ``q`` (routes.CaseQuery)."""
    scope = q["scope"]
    filters = {
        "level": q.get("level"),
        "status": q.get("status"),
        "breach": q.get("breach"),
        "touchpoint": q.get("touchpoint"),
        "visible_to": viewer(user),
    }
    if scope == "mine":
        filters["assignee"] = user["id"]
    elif scope == "team" and len(user["teams"]) == 1:
        filters["assignee"] = user["teams"][0]
    elif scope == "team" and not user["teams"]:
        return {"items": [], "limit": q["limit"], "offset": q["offset"], "next": None}

    def fetch(skip, n):
        return services.cases.list_cases(limit=n, skip=skip, **filters)

    if q["sort"] == "urgency":
        rows = [c for c in fetch(0, urgency.WINDOW) if in_scope(user, scope, c)]
        window = urgency.by_urgency(rows)[q["offset"] : q["offset"] + q["limit"] + 1]
        return annotated(page(request, window, q["limit"], q["offset"]))
    if scope == "all":
        return annotated(page(request, fetch(q["offset"], q["limit"] + 1), q["limit"], q["offset"]))
    rows, after = scan(fetch, lambda case: in_scope(user, scope, case), q["limit"], q["offset"])
    return {
        "items": [urgency.annotate(c) for c in rows],
        "limit": q["limit"],
        "offset": q["offset"],
        "next": next_link(request, after) if after is not None else None,
    }


def visible(services, user: dict, case_id: str) -> dict:
    """The case; NotFound (404) for a case the caller may not see: an agent does not
    learn which other cases exist."""
    return services.cases.get_case(case_id, visible_to=viewer(user))


def about(case: dict) -> list[str]:
    """What the customer's comment is about: the sorted aspect codes of the triggering
    event's text (docs/rules.md "aspects"); none without text (or once it was erased)."""
    text = (case.get("event") or {}).get("text")
    return list(analyze(text).aspects) if text else []


def analysis(case: dict) -> dict | None:
    """The triggering comment's analysis and what drove it (sentiment and its drivers,
    category and its cues, each aspect's terms, negated words; the live lexicon's
    version): ``TextAnalysis.summary``; None without text."""
    text = (case.get("event") or {}).get("text")
    return analyze(text).summary() if text else None


def one(services, user: dict, case_id: str) -> dict:
    """The case as the API answers it: ``visible``, plus its ``aspects`` and the comment's
    ``analysis`` (docs/api.md); the trace's text facts carry their ``because``."""
    case = visible(services, user, case_id)
    return {**case, "aspects": about(case), "analysis": analysis(case)}


def act(services, user: dict, case_id: str, action: str, body: dict) -> dict:
    """Do ``action`` (its ``body`` validated, actions.load_body) on the case, by ``user``."""
    visible(services, user, case_id)  # 404 for a case the agent may not see
    request = {**body, "case_id": case_id, "by": user["id"]}
    try:
        return getattr(services.cases, action)(request)
    except RemoteError as exc:
        error = refused(exc)
        if error is None:
            raise
        raise error from None


def take(services, user: dict, case_id: str, body: dict) -> dict:
    """Take it (``cases.take_case``): the case becomes ``user``'s in one conditional
    update while its owner is still ``body["seen"]``; 409 when someone changed it
    first, 404 for a case the user may not see."""
    visible(services, user, case_id)
    request = {"case_id": case_id, "taker": viewer(user), "seen": body["seen"], "reason": body["reason"]}
    try:
        return services.cases.take_case(request)
    except RemoteError as exc:
        error = refused(exc)
        if error is None:
            raise
        raise error from None


def incidents(services, request, q: dict) -> dict:
    """A page of incidents (routes.IncidentQuery), each with its children's counts."""
    rows = services.cases.list_incidents(limit=q["limit"] + 1, skip=q["offset"], status=q.get("status"))
    return page(request, rows, q["limit"], q["offset"])


def resolve_incident(services, user: dict, case_id: str, body: dict) -> dict:
    """Resolve the incident (``actions.ResolveIncidentBody``) by ``user``: 404 for an
    unknown case, 422 for a case that is no incident or an unknown root cause, 409 for
    a status that cannot be resolved."""
    try:
        return services.cases.resolve_incident({**body, "case_id": case_id, "by": user["id"]})
    except RemoteError as exc:
        error = refused(exc)
        if error is None:
            raise
        raise error from None


def form_action(services, principal, case_id: str, action: str, form):
    """A case page form: the action, then back to the case (303), or the page with the error."""
    try:
        act(services, principal.user, case_id, action, load_body(action, body_from_form(action, form)))
    except HttpError as exc:
        if exc.status == 404:
            raise
        return case_page(services, principal, case_id, exc.status, action, exc)
    raise Redirect(f"/cases/{quote(case_id, safe='')}?done={action}")


def owner_names(services) -> dict:
    """Display names of people and teams (the cases service's directory)."""
    directory = services.cases.list_agents()
    names = {f"person:{a['id']}": a.get("name") or a["id"] for a in directory.get("agents", ())}
    names.update({f"team:{t['id']}": t.get("name") or t["id"] for t in directory.get("teams", ())})
    return names


def owner_key(case: dict) -> str:
    owner = case.get("assignee") or {}
    return f"{owner['kind']}:{owner['id']}" if owner else ""


def case_page(services, principal, case_id: str, status=200, failed=None, error=None, done=None):
    """The case page: the trigger as sentences, the SLA clocks, the linked alerts, the
    resolution, what the comment is about, the customer's scores with their trend, and
    the actions the role may use (each a button that opens its form)."""
    case = visible(services, principal.user, case_id)
    profile, names, playbooks = together(
        lambda: profile_or_none(services, case["customer"]["id"], 0),  # no timeline entries
        lambda: owner_names(services),
        lambda: suggested_playbooks(services, principal.user, case),
    )
    if profile is not None:  # the summary the page shows; the profile page lists cases
        profile = {"feedback_count": profile.get("feedback_count"), "scores": profile.get("scores") or {}}
    t = translator(principal.language)
    return render(
        "case.html",
        principal,
        status=status,
        case=urgency.annotate(case),
        trigger=sentences(t, case.get("trace")),
        shown=lambda field, value: shown_value(t, field, value),
        aspects=about(case),
        profile=profile,
        actions=available(case, principal.role),
        root_causes=root_causes(),
        failed=failed,
        error=error,
        done=done,
        names=names,
        seen=owner_key(case),
        playbooks=playbooks,
    )


def suggested_playbooks(services, user: dict, case: dict) -> list[dict]:
    """The playbooks that fit the case (cases.suggest_playbooks), none for an incident or
    a closed case; an older cases service without playbooks shows none."""
    if case.get("kind") == "incident" or case.get("status") == "closed":
        return []
    try:
        return services.cases.suggest_playbooks(case["_id"], visible_to=viewer(user))["suggestions"]
    except RemoteError as exc:
        if exc.exc_type != "MethodNotFound":
            raise
        return []


def followup_tasks(services, request, user: dict, q: dict) -> dict:
    """A page of follow-up tasks (routes.FollowupQuery): an agent's scope is always their
    own and their teams' tasks; owners and admins may list everyone's (``scope=all``)."""
    scope = q["scope"] if user["role"] in ("owner", "admin") else ("team" if q["scope"] == "team" else "mine")
    whose = {"mine": [user["id"], *user["teams"]], "team": list(user["teams"]), "all": None}[scope]
    request_ = {"assignees": whose, "state": q["state"], "overdue": q["overdue"]}
    rows = services.cases.list_followups({**request_, "limit": q["limit"] + 1, "skip": q["offset"]})
    return page(request, rows, q["limit"], q["offset"])
