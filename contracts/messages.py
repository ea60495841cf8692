"""Messages the services exchange as Nameko events.

Each is published on the producer's ``<service>.events`` topic exchange with the
event type as routing key (Nameko's convention), JSON-encoded. ``MESSAGES`` is
the registry the dispatcher, the handlers, the JSON Schema export and the
AsyncAPI document all read, so the four cannot drift apart.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from marshmallow import EXCLUDE, Schema, fields, validate

from contracts.base import Message, StrictInt, bounded_str, id_str

LEVELS = ("P1", "P2", "P3", "P4")
LEVEL_NAMES = {
    "P1": {"zh-CN": "紧急", "en": "urgent"},
    "P2": {"zh-CN": "高", "en": "high"},
    "P3": {"zh-CN": "中", "en": "medium"},
    "P4": {"zh-CN": "低", "en": "low"},
}
OWNER_KINDS = ("person", "team", "strategy")
NOTIFICATION_KINDS = (
    "alert_raised",
    "case_assigned",
    "case_update",
    "escalation_step",
    "sla_warning",
    "digest",
)


class _Part(Schema):
    class Meta:
        unknown = EXCLUDE


class OwnerRef(_Part):
    """Who is responsible: a person, a team, or an assignment strategy name."""

    kind = fields.String(required=True, validate=validate.OneOf(OWNER_KINDS))
    id = id_str(128, required=True)


class RuleRef(_Part):
    id = bounded_str(128, required=True)
    version = StrictInt(required=True, validate=validate.Range(min=1))
    name = bounded_str(200, required=True)


class CustomerRef(_Part):
    id = bounded_str(128, required=True)
    name = bounded_str(200, allow_none=True)
    tier = bounded_str(32, allow_none=True)


class EventRef(_Part):
    """The feedback event an alert was raised on (a summary, not the whole event)."""

    source = bounded_str(64, required=True)
    event_id = bounded_str(128, required=True)
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    channel = bounded_str(32, required=True)
    touchpoint = bounded_str(64, allow_none=True)
    scores = fields.Dict(keys=fields.String(), values=fields.Integer())
    text = fields.String(validate=validate.Length(max=10_000), allow_none=True)
    tags = fields.List(fields.String())
    attributes = fields.Dict(
        keys=fields.String(),
        allow_none=True,
        metadata={
            "description": "the event's attributes with plain values (store, region, product …), "
            "for group keys; nested objects are left out"
        },
    )


ALERT_SCOPES = ("customer", "group")
# a group rule's conditions, and ``storm``: a customer rule's throttle refusing matches
# in a period (the group is the rule: ``by: [rule]``)
GROUP_CONDITIONS = ("score_below", "spike", "negative_share", "storm")


class GroupRef(_Part):
    """The group a group-scoped alert is about: the events sharing ``key`` on ``by``."""

    by = fields.List(
        bounded_str(64),
        required=True,
        validate=validate.Length(min=1, max=8),
        metadata={
            "description": "attribute paths: touchpoint, channel, attributes.store …; rule for a storm"
        },
    )
    key = fields.Dict(
        keys=fields.String(), values=fields.String(), required=True, metadata={"description": "path → value"}
    )
    condition = fields.String(required=True, validate=validate.OneOf(GROUP_CONDITIONS))
    window = bounded_str(32, required=True, metadata={"description": "a duration: 1h, 7d …"})
    observed = fields.Dict(
        keys=fields.String(),
        required=True,
        metadata={"description": "what was measured: value, count, baseline, threshold …"},
    )


class AlertHead(_Part):
    """What names an alert: ``alert_raised``'s first fields, and each of ``alerts_taken_in.alerts``."""

    alert_id = bounded_str(128, required=True)
    raised_at = fields.AwareDateTime(required=True, format="iso")
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    rule = fields.Nested(RuleRef, required=True)


class AlertRaisedV1(AlertHead, Message):  # type: ignore[misc]  # both Metas: unknown = EXCLUDE
    """An alert rule matched a feedback event (预警)."""

    owner = fields.Nested(OwnerRef, required=True)
    channels = fields.List(bounded_str(32), required=True)
    customer = fields.Nested(CustomerRef, required=True)
    event = fields.Nested(EventRef, required=True)
    trace = fields.List(fields.Dict(), metadata={"description": "why the rule fired"})
    dedup_key = bounded_str(
        1000, allow_none=True, metadata={"description": "repeats with this key attach to this alert"}
    )
    facts = fields.Dict(
        keys=fields.String(), metadata={"description": "derived facts the rule read (sentiment, category …)"}
    )
    scope = fields.String(
        load_default="customer",
        validate=validate.OneOf(ALERT_SCOPES),
        metadata={
            "description": "customer: about one customer; group: about a group of events (an incident)"
        },
    )
    group = fields.Nested(
        GroupRef,
        allow_none=True,
        metadata={"description": "set when scope is group; customer and event are the event that tipped it"},
    )


class OpeningAssignment(_Part):
    """The assignment a case got as it opened (its ``open → assigned`` move)."""

    assignee = fields.Nested(OwnerRef, required=True)
    at = fields.AwareDateTime(required=True, format="iso")
    by = bounded_str(128, required=True)
    reason = bounded_str(2000, allow_none=True)


class CaseOpening(_Part):
    """A case as it opened (``case_opened``, and each of ``alerts_taken_in.cases_opened``)."""

    case_id = bounded_str(128, required=True)
    alert_id = bounded_str(128, required=True)
    opened_at = fields.AwareDateTime(required=True, format="iso")
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    status = bounded_str(32, required=True)
    title = bounded_str(300, required=True)
    customer = fields.Nested(CustomerRef, required=True)
    rule = fields.Nested(RuleRef, required=True)
    assignment = fields.Nested(OpeningAssignment, allow_none=True, load_default=None)


class CaseOpenedV1(CaseOpening, Message):  # type: ignore[misc]  # both Metas: unknown = EXCLUDE
    """A case (工单) was opened for an alert.

    ``status`` is the case's status as it opened: ``assigned`` when it got an owner
    at once, then described by ``assignment`` (that move has no
    ``case_status_changed`` of its own: one message carries both), else ``open``."""


class CustomerKey(_Part):
    id = bounded_str(128, required=True)


class EventTime(_Part):
    occurred_at = fields.AwareDateTime(required=True, format="iso")


class AlertTakenIn(AlertHead):
    """An alert as its customer's profile records it (a part of ``alert_raised``)."""

    customer = fields.Nested(CustomerKey, required=True)
    event = fields.Nested(EventTime, required=True)


class AlertsTakenInV1(Message):
    """A batch of alerts the cases service took in, and the cases the batch opened.

    One message per intake batch (at most ``MAX_TAKEN_IN`` alerts; a bigger batch sends
    several), for the customers' profiles: each alert counted on its customer's
    profile and timeline, each case listed among the customer's open cases. The same
    cases are announced one by one as ``case_opened`` for integrations. A redelivered
    batch announces the same again; profiles record each alert and case once."""

    taken_at = fields.AwareDateTime(required=True, format="iso")
    alerts = fields.List(fields.Nested(AlertTakenIn), required=True, validate=validate.Length(min=1, max=500))
    cases_opened = fields.List(fields.Nested(CaseOpening), required=True, validate=validate.Length(max=500))


MAX_TAKEN_IN = 100  # alerts per ``alerts_taken_in`` message


class CaseAssignedV1(Message):
    """A case got an owner (负责人), first or by reassignment."""

    case_id = bounded_str(128, required=True)
    assignee = fields.Nested(OwnerRef, required=True)
    assigned_at = fields.AwareDateTime(required=True, format="iso")
    assigned_by = bounded_str(128, required=True)
    reason = bounded_str(1000, required=True)
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    customer_id = bounded_str(128, required=True)


# ``verified``: resolved, and the customer's follow-up answer (回访) said they are satisfied.
CASE_STATUSES = (
    "open",
    "assigned",
    "in_progress",
    "pending_customer",
    "resolved",
    "closed",
    "reopened",
    "verified",
)


class ResolutionRef(_Part):
    root_cause = bounded_str(64, required=True)
    first_contact_resolution = fields.Boolean(required=True)
    summary = bounded_str(2000, allow_none=True)


class CaseStatusChangedV1(Message):
    """A case moved from one lifecycle status to another (every transition)."""

    case_id = bounded_str(128, required=True)
    customer_id = bounded_str(128, required=True)
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    from_status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    to_status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    changed_at = fields.AwareDateTime(required=True, format="iso")
    changed_by = bounded_str(128, required=True)
    reason = bounded_str(2000, allow_none=True)
    resolution = fields.Nested(ResolutionRef, allow_none=True)


# A case entering one of these statuses means someone got in touch with the customer.
RESPONDED_STATUSES = ("in_progress", "pending_customer", "resolved", "closed")


class CustomerRespondedV1(Message):
    """Someone got in touch with a case's customer: the case entered a status of
    ``RESPONDED_STATUSES``. Alerts stops waiting on "no response within T" for the
    customer; a consumer that needs every transition reads ``case_status_changed``."""

    case_id = bounded_str(128, required=True)
    customer_id = bounded_str(128, required=True)
    status = fields.String(required=True, validate=validate.OneOf(RESPONDED_STATUSES))
    responded_at = fields.AwareDateTime(required=True, format="iso")


class NotificationRequestedV1(Message):
    """Ask notify to tell a recipient about something, on the given channels."""

    notification_id = bounded_str(200, required=True, metadata={"description": "idempotency key"})
    requested_at = fields.AwareDateTime(required=True, format="iso")
    kind = fields.String(required=True, validate=validate.OneOf(NOTIFICATION_KINDS))
    recipient = fields.Nested(OwnerRef, required=True)
    channels = fields.List(bounded_str(32), required=True, validate=validate.Length(min=1))
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    case_id = bounded_str(128, allow_none=True)
    # the wire name; marshmallow keeps declared fields apart from Schema.context
    context = fields.Dict(keys=fields.String(), required=True)  # type: ignore[assignment]


class NotificationDeliveredV1(Message):
    """Outcome of one notification on one channel (delivered or failed for good)."""

    notification_id = bounded_str(200, required=True)
    channel = bounded_str(32, required=True)
    recipient = fields.Nested(OwnerRef, required=True)
    status = fields.String(required=True, validate=validate.OneOf(("delivered", "failed")))
    attempts = StrictInt(required=True, validate=validate.Range(min=1))
    finished_at = fields.AwareDateTime(required=True, format="iso")
    message_id = bounded_str(300, allow_none=True)
    error = bounded_str(2000, allow_none=True)


CUSTOMER_CHANNELS = ("sms", "email", "wechat_oa")
CUSTOMER_MESSAGE_PURPOSES = ("followup_survey", "case_reply", "playbook_reply")


class CustomerMessageRequestedV1(Message):
    """Ask notify to send a message to a customer (回访, a reply on a case).

    Notify looks up the customer's contact details and consent, checks opt-out, contact
    fatigue and the customer's quiet hours before sending, and answers with
    ``customer_message_outcome`` (sent, or refused with its reason: never dropped)."""

    message_id = bounded_str(200, required=True, metadata={"description": "idempotency key"})
    requested_at = fields.AwareDateTime(required=True, format="iso")
    purpose = fields.String(required=True, validate=validate.OneOf(CUSTOMER_MESSAGE_PURPOSES))
    customer_id = bounded_str(128, required=True)
    channels = fields.List(
        fields.String(validate=validate.OneOf(CUSTOMER_CHANNELS)),
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "in order of preference: the first one the customer can be reached on"},
    )
    case_id = bounded_str(128, allow_none=True)
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(("zh-CN", "en")))
    not_after = fields.AwareDateTime(
        allow_none=True, load_default=None, format="iso", metadata={"description": "give up after this"}
    )
    # the wire name; marshmallow keeps declared fields apart from Schema.context
    context = fields.Dict(keys=fields.String(), required=True)  # type: ignore[assignment]


CUSTOMER_MESSAGE_STATUSES = ("sent", "refused", "failed", "delivered", "undelivered")
CUSTOMER_MESSAGE_REFUSALS = ("opted_out", "fatigued", "quiet_hours_expired", "no_contact", "expired")


class CustomerMessageOutcomeV1(Message):
    """What became of one customer message: sent on a channel, refused before any
    contact (``reason`` one of ``CUSTOMER_MESSAGE_REFUSALS``), or failed for good; later,
    when the vendor's delivery receipt comes, ``delivered`` or ``undelivered`` (with the
    vendor's ``error_code``), announced again under the same ``message_id``."""

    message_id = bounded_str(200, required=True)
    purpose = fields.String(required=True, validate=validate.OneOf(CUSTOMER_MESSAGE_PURPOSES))
    customer_id = bounded_str(128, required=True)
    case_id = bounded_str(128, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(CUSTOMER_MESSAGE_STATUSES))
    channel = bounded_str(32, allow_none=True)
    reason = bounded_str(2000, allow_none=True)
    error_code = bounded_str(64, allow_none=True, load_default=None)
    finished_at = fields.AwareDateTime(required=True, format="iso")


class CauseRef(_Part):
    kind = fields.String(required=True, validate=validate.OneOf(("feedback", "alert", "case")))
    key = bounded_str(300, required=True)


class ProfileUpdatedV1(Message):
    """A customer's experience profile (体验档案) changed."""

    customer_id = bounded_str(128, required=True)
    cause = fields.Nested(CauseRef, required=True)
    updated_at = fields.AwareDateTime(required=True, format="iso")
    feedback_count = StrictInt(required=True)
    latest_scores = fields.Dict(keys=fields.String(), values=fields.Integer())


class CustomerErasedV1(Message):
    """A customer's personal data was erased (a data-subject request): every service
    anonymises what it keeps about ``customer_ids`` (ids and counts stay)."""

    customer_id = bounded_str(128, required=True, metadata={"description": "the erased (surviving) id"})
    customer_ids = fields.List(
        bounded_str(128),
        required=True,
        validate=validate.Length(min=1, max=1000),
        metadata={"description": "customer_id and every id merged into it"},
    )
    erased_at = fields.AwareDateTime(required=True, format="iso")
    request_ref = bounded_str(
        128, required=True, metadata={"description": "the request's reference; no personal data"}
    )


class DirectoryChangedV1(Message):
    """The people directory was saved (``contracts/people.py``): the whole validated
    directory at ``revision``. A reader replaces its projection with it unless it holds
    this revision or a later one already."""

    revision = StrictInt(required=True, validate=validate.Range(min=1))
    changed_at = fields.AwareDateTime(required=True, format="iso")
    by = bounded_str(128, required=True, metadata={"description": "who saved it"})
    directory = fields.Dict(
        required=True, metadata={"description": "{people, teams, strategies} as contracts/people.py loads it"}
    )


@dataclass(frozen=True)
class MessageSpec:
    name: str
    schema: type[Message]
    producer: str
    description: str

    @property
    def exchange(self) -> str:
        return f"{self.producer}.events"


MESSAGES: dict[str, MessageSpec] = {
    spec.name: spec
    for spec in (
        MessageSpec("alert_raised", AlertRaisedV1, "alerts", "an alert rule matched an event"),
        MessageSpec("case_opened", CaseOpenedV1, "cases", "a case was opened for an alert"),
        MessageSpec(
            "alerts_taken_in", AlertsTakenInV1, "cases", "a batch of alerts taken in and the cases it opened"
        ),
        MessageSpec("case_assigned", CaseAssignedV1, "cases", "a case was (re)assigned"),
        MessageSpec("case_status_changed", CaseStatusChangedV1, "cases", "a case changed status"),
        MessageSpec("customer_responded", CustomerRespondedV1, "cases", "a case's customer got a response"),
        MessageSpec("notification_requested", NotificationRequestedV1, "cases", "notify a recipient"),
        MessageSpec("notification_delivered", NotificationDeliveredV1, "notify", "delivery outcome"),
        MessageSpec(
            "customer_message_requested", CustomerMessageRequestedV1, "cases", "send a message to a customer"
        ),
        MessageSpec(
            "customer_message_outcome",
            CustomerMessageOutcomeV1,
            "notify",
            "a customer message sent or refused",
        ),
        MessageSpec("profile_updated", ProfileUpdatedV1, "profiles", "a profile changed"),
        MessageSpec("customer_erased", CustomerErasedV1, "profiles", "anonymise a customer everywhere"),
        MessageSpec("directory_changed", DirectoryChangedV1, "cases", "the people directory was saved"),
    )
}


@functools.cache
def schema_of(event_type: str) -> Message:
    """The contract's schema, one shared instance per event type (KeyError when unknown).

    Building a schema per message cost 7–10 % of a consumer's CPU under load (py-spy,
    docs/benchmarks.md); a marshmallow schema keeps no state between loads and dumps.
    """
    return MESSAGES[event_type].schema()
