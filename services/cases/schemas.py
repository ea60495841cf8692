"""Validation of the cases service's RPC requests (errors name the field)."""

from __future__ import annotations

from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate

from contracts.base import bounded_str, flatten_errors, id_str
from contracts.messages import OwnerRef
from services.common import settings
from services.common.errors import BadRequest
from services.common.validation import StrictSchema, load_valid

VISIBILITIES = ("internal", "customer")


def root_causes() -> list[str]:
    return [c.strip() for c in str(settings.get("CASE_ROOT_CAUSES")).split(",") if c.strip()]


class _Request(StrictSchema):
    case_id = id_str(128, required=True)
    by = id_str(128, required=True, metadata={"description": "who acts (agent id)"})
    reason = bounded_str(2000, allow_none=True, load_default=None)


class ActionRequest(_Request):
    """acknowledge, start, pending_customer, resume, close."""


class ReopenRequest(_Request):
    reason = bounded_str(2000, required=True)


class AssignRequest(_Request):
    assignee = fields.Nested(OwnerRef, required=True)


class ReassignRequest(AssignRequest):
    reason = bounded_str(2000, required=True, metadata={"description": "handoff reason"})


class TakeRequest(StrictSchema):
    """``take_case``: the case becomes the taker's if its owner is still the one they saw."""

    case_id = id_str(128, required=True)
    taker = fields.Nested("VisibleTo", required=True, metadata={"description": "who takes it"})
    seen = fields.String(
        required=True,
        validate=validate.Length(max=260),
        metadata={"description": "the owner key the taker saw (kind:id), empty when unassigned"},
    )
    reason = bounded_str(2000, allow_none=True, load_default=None, metadata={"description": "handoff reason"})


class CollaboratorRequest(_Request):
    person = id_str(128, required=True)
    role = bounded_str(64, required=True, metadata={"description": "e.g. logistics, billing, legal"})


class CommentRequest(_Request):
    text = bounded_str(10_000, required=True)
    visibility = fields.String(required=True, validate=validate.OneOf(VISIBILITIES))
    comment_id = id_str(128, allow_none=True, load_default=None, metadata={"description": "idempotency key"})


class ResolveRequest(_Request):
    root_cause = fields.String(required=True)
    first_contact_resolution = fields.Boolean(required=True)
    summary = bounded_str(2000, allow_none=True, load_default=None)


class ResolveIncidentRequest(ResolveRequest):
    """An incident resolved; ``resolve_children`` resolves its open children too."""

    resolve_children = fields.Boolean(load_default=False)


INCIDENT_STATUSES = (
    "active",
    "open",
    "assigned",
    "in_progress",
    "pending_customer",
    "resolved",
    "closed",
    "reopened",
)


class FollowupDoneRequest(_Request):
    """An agent did a follow-up task; ``score`` (with ``scale``, default the survey's) is
    the answer the customer gave them, which counts as the survey answer."""

    note = bounded_str(2000, allow_none=True, load_default=None)
    score = fields.Integer(allow_none=True, load_default=None, strict=True)
    scale = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(("csat", "nps")))


class UnreadableReplyRequest(StrictSchema):
    """A customer's reply to the follow-up survey that answers no score (the gateway's SMS replies)."""

    case_id = id_str(128, required=True)
    text = fields.String(required=True, validate=validate.Length(max=2000))
    reason = bounded_str(500, required=True)
    via = fields.String(load_default="sms", validate=validate.OneOf(("sms",)))


class FollowupListRequest(StrictSchema):
    """Follow-up tasks: whose (people and teams), which, and a page."""

    assignees = fields.List(
        id_str(128),
        allow_none=True,
        load_default=None,
        validate=validate.Length(max=100),
        metadata={"description": "people and teams whose tasks to list (none: everyone's)"},
    )
    state = fields.String(load_default="open", validate=validate.OneOf(("open", "done", "all")))
    overdue = fields.Boolean(load_default=False, metadata={"description": "open tasks past their due time"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    skip = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


def load(schema: type[Schema], request) -> dict:
    if not isinstance(request, dict):
        raise BadRequest("request: must be an object")
    data = load_valid(schema, request)
    if issubclass(schema, ResolveRequest) and data["root_cause"] not in root_causes():
        raise BadRequest(f"root_cause: must be one of {', '.join(root_causes())}")
    return data


VIEWER_ROLES = ("agent", "owner", "admin")


class VisibleTo(StrictSchema):
    """Whose view of the cases (the gateway passes the signed-in user)."""

    user_id = id_str(128, required=True)
    role = fields.String(required=True, validate=validate.OneOf(VIEWER_ROLES))
    teams = fields.List(id_str(128), load_default=list, validate=validate.Length(max=100))


def load_visible_to(value) -> dict | None:
    """``visible_to`` validated (None: no restriction); errors name ``visible_to.<field>``."""
    if value is None:
        return None
    return load_valid(VisibleTo, value, shape="must be an object {user_id, role, teams}", field="visible_to")


class MetricsRequest(StrictSchema):
    """``cases.metrics``: the period (ISO-8601 with a UTC offset) and the grouping."""

    since = fields.AwareDateTime(required=True, format="iso")
    until = fields.AwareDateTime(load_default=None, format="iso", metadata={"description": "default: now"})
    group_by = fields.String(
        load_default=None, allow_none=True, validate=validate.OneOf(("team", "level", "touchpoint", "owner"))
    )
    also = fields.List(
        fields.String(validate=validate.OneOf(("team", "level", "touchpoint", "owner"))),
        load_default=list,
        validate=validate.Length(max=4),
        metadata={"description": "more groupings, answered under also.<grouping> from the same read"},
    )
    assignee = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=128),
        metadata={"description": "only the cases this person or team owns now"},
    )


def load_alert(payload) -> dict:
    """An ``alert_raised`` payload checked against its contract (dry runs)."""
    from contracts.messages import schema_of

    return load_valid(
        schema_of("alert_raised"), payload, shape="must be an alert_raised object", field="alert"
    )


def load_moment(name: str, value) -> datetime | None:
    if value is None:
        return None
    try:
        return fields.AwareDateTime(format="iso").deserialize(value)
    except ValidationError as exc:
        raise BadRequest(flatten_errors(exc.messages, name)) from None
