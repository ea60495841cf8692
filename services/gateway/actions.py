"""Case actions over HTTP and from the case page's forms.

Each action of the cases service (assign, reassign, add_collaborator,
comment, acknowledge, start, pending_customer, resume, resolve, reopen,
close) is one API route ``POST /api/v1/cases/<case_id>/<action>`` (JSON) and
one console form ``POST /cases/<case_id>/<action>``. The body is validated
here (errors name the field); ``by`` is always the signed-in user, never the
body. Who may do what:

* ``agent``: every action except ``close``, and only on cases visible to
  them (the cases service's ``visible_to`` rule; any other case is a 404);
* ``owner`` and ``admin``: every action on every case, ``close`` included
  (closing ends a resolved case for good);
* ``integration``: none.

The cases service's answers map onto HTTP: a transition the case's status
does not allow is 409 Conflict; any other refusal (an unknown root cause, a
missing reason) is 422 naming the field; an unknown case is 404.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from services.common import settings
from services.gateway.errors import HttpError, bad_request, field_errors, reason_lines

REASON = validate.Length(min=1, max=2000)
ACTORS = ("agent", "owner", "admin")
OFFICE = ("owner", "admin")


class ActionBody(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(load_default=None, allow_none=True, validate=REASON)


class TakeBody(Schema):
    """``POST /api/v1/cases/<id>/take``: the owner the caller saw, as the case shows it
    (``assignee_key``, "" when unassigned), so a change in between is a 409."""

    class Meta:
        unknown = RAISE

    seen = fields.String(required=True, validate=validate.Length(max=260))
    reason = fields.String(load_default=None, allow_none=True, validate=REASON)


class Owner(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(("person", "team")))
    id = fields.String(required=True, validate=validate.Length(min=1, max=128))


class AssignBody(ActionBody):
    assignee = fields.Nested(Owner, required=True)


class ReassignBody(AssignBody):
    reason = fields.String(required=True, validate=REASON, metadata={"description": "handoff reason"})


class CollaboratorBody(ActionBody):
    person = fields.String(required=True, validate=validate.Length(min=1, max=128))
    role = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "e.g. logistics, billing, legal"},
    )


class CommentBody(Schema):
    class Meta:
        unknown = RAISE

    text = fields.String(required=True, validate=validate.Length(min=1, max=10_000))
    visibility = fields.String(load_default="internal", validate=validate.OneOf(("internal", "customer")))
    comment_id = fields.String(
        load_default=None, allow_none=True, metadata={"description": "idempotency key"}
    )


class ResolveBody(ActionBody):
    root_cause = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "one of the CASE_ROOT_CAUSES setting"},
    )
    first_contact_resolution = fields.Boolean(required=True)
    summary = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ResolveIncidentBody(ResolveBody):
    """``POST /api/v1/incidents/<case_id>/resolve`` (cases.resolve_incident)."""

    first_contact_resolution = fields.Boolean(load_default=False)
    resolve_children = fields.Boolean(
        load_default=False,
        metadata={"description": "resolve each open child case too (the normal resolve path)"},
    )


class ReopenBody(ActionBody):
    reason = fields.String(required=True, validate=REASON)


class FollowupDoneBody(Schema):
    class Meta:
        unknown = RAISE

    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    score = fields.Integer(
        load_default=None,
        allow_none=True,
        metadata={"description": "the customer's answer, if they gave one"},
    )
    scale = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(("csat", "nps")))


# action -> (roles, body schema, summary)
ACTIONS: dict[str, tuple[tuple[str, ...], type[Schema], str]] = {
    "assign": (ACTORS, AssignBody, "Give the case an owner (person or team)"),
    "reassign": (ACTORS, ReassignBody, "Hand the case to another owner (reason required)"),
    "add_collaborator": (ACTORS, CollaboratorBody, "Add a collaborator (协作人) with a role"),
    "comment": (ACTORS, CommentBody, "Add an internal or customer-facing comment"),
    "acknowledge": (ACTORS, ActionBody, "Acknowledge the case (stops the acknowledge clock)"),
    "start": (ACTORS, ActionBody, "Start working on the case"),
    "pending_customer": (ACTORS, ActionBody, "Wait for the customer (SLA clocks pause)"),
    "resume": (ACTORS, ActionBody, "The customer answered: back to in progress"),
    "resolve": (ACTORS, ResolveBody, "Resolve with a root cause and the first-contact-resolution flag"),
    "reopen": (ACTORS, ReopenBody, "Reopen a resolved case (reason required)"),
    "close": (OFFICE, ActionBody, "Close a resolved case for good"),
    "followup_done": (
        ACTORS,
        FollowupDoneBody,
        "The follow-up task (回访) is done; a score is the customer's answer (verifies or reopens)",
    ),
}

# Form fields of the case page that are not the body's own names.
FORM_ONLY = {"csrf_token", "assignee_kind", "assignee_id"}
FLAGS = {"first_contact_resolution"}


def load_body(action: str, document) -> dict:
    """The action's body validated (400 naming ``body.<field>`` otherwise)."""
    return load_valid_body(ACTIONS[action][1], document)


def load_valid_body(schema: type[Schema], document, where: str = "body") -> dict:
    """A JSON body (or a form, ``where="form"``) validated by ``schema`` (400 naming
    ``<where>.<field>`` otherwise)."""
    if not isinstance(document, dict):
        raise bad_request([f"{where}: must be a JSON object"])
    try:
        return schema().load(document)
    except ValidationError as exc:
        raise bad_request(exc, where) from None


def body_from_form(action: str, form) -> dict:
    """A case-page form as the action's JSON body (empty optional fields are left out)."""
    body: dict = {}
    for key in form:
        if key in FORM_ONLY:
            continue
        value = form.get(key, "")
        if key in FLAGS:
            body[key] = value in ("on", "true", "1")
        elif value != "":
            body[key] = value
    if "assignee_id" in form or "assignee_kind" in form:
        body["assignee"] = {"kind": form.get("assignee_kind", ""), "id": form.get("assignee_id", "")}
    if action == "resolve":
        body.setdefault("first_contact_resolution", False)  # an unticked checkbox is not sent
    return body


def refused(exc) -> HttpError | None:
    """The cases service's refusal of an action as 409 / 422 (None: not a refusal)."""
    exc_type = getattr(exc, "exc_type", None)
    if exc_type == "InvalidTransition":
        return HttpError(409, str(exc.value))
    if exc_type == "BadRequest":
        lines = reason_lines(str(exc.value))
        return HttpError(422, "the cases service refused the action: " + str(exc.value), field_errors(lines))
    return None


# Which forms the case page offers in each status (a hint for people; the
# cases service decides, and answers 409 to a transition it does not allow).
_WORKING = ("assign", "add_collaborator", "comment", "resolve")
OFFERED = {
    "open": ("assign", "add_collaborator", "comment"),
    "assigned": ("acknowledge", "start", *_WORKING),
    "reopened": ("acknowledge", "start", *_WORKING),
    "in_progress": ("pending_customer", *_WORKING),
    "pending_customer": ("resume", *_WORKING),
    "resolved": ("reopen", "close", "comment"),
    "verified": ("reopen", "close", "comment"),
    "closed": ("comment",),
}


def available(case: dict, role: str | None) -> list[str]:
    """The actions the case page shows: offered in the case's status and allowed to the role.
    ``assign`` reads as ``reassign`` (reason required) once the case has an owner."""
    out = []
    offered = OFFERED.get(case.get("status") or "", ())
    if any(f.get("state") == "task" for f in case.get("followups") or ()):  # an open follow-up task
        offered = (*offered, "followup_done")
    for action in offered:
        if action == "assign" and case.get("assignee"):
            action = "reassign"
        if action == "acknowledge" and case.get("acknowledged"):
            continue
        if role in ACTIONS[action][0]:
            out.append(action)
    return out


def root_causes() -> list[str]:
    """The resolve form's choices (the cases service validates against the same setting)."""
    return [c.strip() for c in str(settings.get("CASE_ROOT_CAUSES")).split(",") if c.strip()]
