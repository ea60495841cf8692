"""The console's queue as one query: saved views, search and filters, counted in the database.

A request (``QueueRequest``) names a viewer (the signed-in user), a saved view
and optional filters; the answer is one page, the total the filters match and
the number of cases in each saved view, all counted by the database with the
viewer's visibility rule (``stores/queries.visibility_query``) applied.

Saved views (``VIEWS``):

* ``mine``: assigned to the viewer in person;
* ``team``: owned by one of the viewer's teams (assigned to the team, or the
  team the case belongs to);
* ``unassigned``: no owner yet;
* ``breaching``: a running SLA clock is due within ``soon_minutes`` (default
  60) or already overdue;
* ``open``: every open case the viewer may see (the default);
* ``all``: resolved and closed cases too.

Every view but ``all`` holds open cases only (resolved and closed are hidden),
unless the request asks for a ``status`` explicitly.

Search (``q``): an exact case id or customer id (indexed), else a
case-insensitive substring of the customer's name, the case title or the
comment's text among the cases the view and filters leave.
"""

from __future__ import annotations

import re

from marshmallow import fields, validate

from contracts.base import bounded_str, id_str
from services.cases.lifecycle import ACTIVE_STATUSES, CASE_STATUSES
from services.cases.schemas import VisibleTo
from services.common.validation import StrictSchema, load_valid

VIEWS = ("mine", "team", "unassigned", "breaching", "open", "all")
COUNTED_VIEWS = ("mine", "team", "unassigned", "breaching", "open")
SORTS = ("urgency", "newest")
BREACH_STATES = ("ack_breached", "resolve_breached", "breached", "at_risk", "none")
CLOCK_DUE = ("sla.clocks.acknowledge.due_epoch", "sla.clocks.resolve.due_epoch")
ID_LIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")


class QueueRequest(StrictSchema):
    """``cases.queue``: whose queue, which saved view, the filters and the page."""

    viewer = fields.Nested(VisibleTo, required=True)
    view = fields.String(load_default="open", validate=validate.OneOf(VIEWS))
    q = bounded_str(128, load_default=None, allow_none=True, metadata={"description": "search"})
    level = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(("P1", "P2", "P3", "P4"))
    )
    status = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(CASE_STATUSES))
    breach = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(BREACH_STATES))
    touchpoint = bounded_str(64, load_default=None, allow_none=True)
    case_ids = fields.List(id_str(128), load_default=None, allow_none=True, validate=validate.Length(max=200))
    sort = fields.String(load_default="urgency", validate=validate.OneOf(SORTS))
    soon_minutes = fields.Integer(load_default=60, validate=validate.Range(1, 7 * 24 * 60))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    skip = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


def load_request(document) -> dict:
    """The request validated; errors name the field (``view: Must be one of …``)."""
    return load_valid(QueueRequest, document, shape="must be an object {viewer, view, …}")


def view_query(view: str, viewer: dict, now: float, soon_minutes: int) -> dict:
    """The saved view's own condition (visibility and open/finished come on top)."""
    user, teams = viewer["user_id"], list(viewer["teams"])
    if view == "mine":
        return {"assignee_key": f"person:{user}"}
    if view == "team":
        if not teams:
            return {"_id": {"$in": []}}  # no team: nothing
        return {"$or": [{"assignee.kind": "team", "assignee.id": {"$in": teams}}, {"team": {"$in": teams}}]}
    if view == "unassigned":
        return {"assignee_key": ""}
    if view == "breaching":
        horizon = now + soon_minutes * 60
        return {"$or": [{due: {"$lte": horizon}} for due in CLOCK_DUE]}
    return {}


def finished_hidden(view: str, status: str | None) -> dict:
    """Resolved and closed cases stay out of every view but ``all``, unless asked for."""
    if view == "all" or status:
        return {}
    return {"status": {"$in": list(ACTIVE_STATUSES)}}


def search_query(q: str | None) -> dict:
    """An id (case or customer) matches exactly; any other text as a substring."""
    text = (q or "").strip()
    if not text:
        return {}
    pattern = {"$regex": re.escape(text), "$options": "i"}
    substring = [{"customer.name": pattern}, {"title": pattern}, {"event.text": pattern}]
    if ID_LIKE.match(text):
        return {"$or": [{"_id": text}, {"_id": text.upper()}, {"customer.id": text}, *substring]}
    return {"$or": substring}


def sort_order(sort: str) -> list[tuple[str, int]]:
    """``urgency``: level, then oldest first (a level's SLA clocks start at opening, so
    this is deadline order except for paused or re-applied clocks); ``newest``:
    level, then newest first."""
    return [("level", 1), ("opened_at", 1 if sort == "urgency" else -1), ("_id", 1)]
