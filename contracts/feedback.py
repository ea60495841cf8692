"""Feedback event v1: the public contract integrations publish on ``cx.feedback``.

See SPEC.md "Public contract". Unknown extra fields are kept, at every level.
Object keys, at every depth, must not start with ``$`` or contain ``.`` or NUL
(they would read as MongoDB operators or paths); such an event is rejected
naming the key.
"""

from __future__ import annotations

import json
from datetime import UTC

from marshmallow import (
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from contracts.base import (
    Message,
    Pattern,
    StrictInt,
    bounded_str,
    flatten_errors,
    id_str,
    in_time_range,
    key_errors,
    unstorable,
)
from contracts.loading import loader

FEEDBACK_EXCHANGE = "cx.feedback"
ROUTING_KEY_PATTERN = "feedback.{channel}"
# A follow-up survey answer (回访) is published as ``feedback.<channel>.followup``: every
# ``feedback.#`` consumer sees it like any feedback, and the cases service binds only
# ``FOLLOWUP_BINDING``, so it never receives the ordinary stream.
FOLLOWUP_ROUTING_KEY_PATTERN = "feedback.{channel}.followup"
FOLLOWUP_BINDING = "feedback.*.followup"
KNOWN_CHANNELS = ("web", "app", "wechat", "email", "phone", "sms", "qr", "store", "social", "other")
MAX_BODY_BYTES = 256 * 1024  # far above any valid event (text ≤ 10,000 chars)
MAX_NESTING = 16  # objects/arrays inside objects/arrays; MongoDB stops at 100, stored copies add levels


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


class CustomerSchema(_Open):
    id = id_str(128, required=True, metadata={"description": "the integration's stable customer key"})
    name = bounded_str(200, allow_none=True, metadata={"description": "PII"})
    phone = bounded_str(64, allow_none=True, metadata={"description": "PII"})
    email = bounded_str(254, allow_none=True, metadata={"description": "PII"})
    tier = bounded_str(32, allow_none=True, metadata={"description": "e.g. vip, standard"})
    attributes = fields.Dict(keys=fields.String(), allow_none=True)


SCORE_NAMES = ("nps", "csat", "ces")


class ScoresSchema(_Open):
    nps = StrictInt(validate=validate.Range(0, 10), allow_none=True, metadata={"description": "0-10"})
    csat = StrictInt(validate=validate.Range(1, 5), allow_none=True, metadata={"description": "1-5"})
    ces = StrictInt(validate=validate.Range(1, 7), allow_none=True, metadata={"description": "1-7"})


class FeedbackEventV1(Message, _Open):
    """One piece of customer feedback."""

    class Meta:
        unknown = INCLUDE

    event_id = id_str(128, required=True, metadata={"description": "unique per source"})
    source = id_str(64, required=True, metadata={"description": "integration name"})
    occurred_at = fields.AwareDateTime(
        required=True,
        format="iso",
        validate=in_time_range,
        metadata={"description": "ISO-8601 with offset, between 1970-01-01 and 2999-12-31 UTC"},
    )
    customer = fields.Nested(CustomerSchema, required=True)
    channel = fields.String(
        required=True,
        validate=Pattern(r"^[a-z][a-z0-9_-]{0,31}$", error="must be a lowercase channel name"),
        metadata={"description": "one of " + ", ".join(KNOWN_CHANNELS) + " (others accepted)"},
    )
    touchpoint = bounded_str(64, allow_none=True, metadata={"description": "journey step"})
    scores = fields.Nested(ScoresSchema, allow_none=True)
    text = fields.String(validate=validate.Length(max=10_000), allow_none=True)
    tags = fields.List(bounded_str(64), allow_none=True)
    attributes = fields.Dict(keys=fields.String(), allow_none=True)
    case_id = id_str(
        128,
        allow_none=True,
        metadata={"description": "the case this feedback answers (a follow-up survey, 回访)"},
    )

    @pre_load
    def _require_object(self, data, **_):
        if not isinstance(data, dict):
            raise ValidationError("the message body must be a JSON object")
        # Open content (unknown fields, attributes) goes to MongoDB as it came:
        # refuse here what it cannot store rather than failing in every consumer.
        problems = storage_problems(data)
        if problems:
            raise ValidationError(problems)
        return data

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def _safe_keys(self, data, original, **_):
        # field errors (a string given as an object) are reported as well, by the fields
        errors = key_errors(original) if isinstance(original, dict) else []
        if errors:
            raise ValidationError({line.partition(": ")[0]: [line.partition(": ")[2]] for line in errors})

    @post_load
    def _normalise(self, data, **_):
        # Nulls mean "not given"; drop them so stored documents stay sparse.
        for key in ("touchpoint", "scores", "text", "tags", "attributes", "case_id"):
            if data.get(key) is None:
                data.pop(key, None)
        for key in [k for k, v in data["customer"].items() if v is None]:
            del data["customer"][key]
        if "scores" in data:
            data["scores"] = {k: v for k, v in data["scores"].items() if v is not None}
        data["occurred_at"] = data["occurred_at"].astimezone(UTC)
        return data


def storage_problems(document: dict, limit: int = 10) -> dict[str, list[str]]:
    """What in a decoded body could not be stored as it is, by path (at most ``limit``).

    The schema checks the known fields; this checks every value, the unknown
    fields kept at every level included (contracts.base.unstorable), with the
    feedback contract's tighter nesting limit.
    """
    return {path: [reason] for path, reason in unstorable(document, limit=limit, max_nesting=MAX_NESTING)}


class InvalidFeedback(ValueError):
    """A message that can never become a valid event; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_schema = FeedbackEventV1()
_load = loader(_schema)  # the same result, or the same ValidationError (contracts/loading.py)


def parse_feedback(body: bytes | str | dict) -> dict:
    """Decode and validate one message body; raise InvalidFeedback with a reason.

    Returns the normalised event: ``occurred_at`` as an aware UTC datetime,
    null optionals removed, unknown fields kept.
    """
    if isinstance(body, (bytes, bytearray)):
        if len(body) > MAX_BODY_BYTES:
            raise InvalidFeedback(f"body too large: {len(body)} bytes > {MAX_BODY_BYTES}")
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidFeedback(f"body is not UTF-8: {exc}") from None
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except json.JSONDecodeError as exc:
            raise InvalidFeedback(f"invalid JSON: {exc}") from None
        except RecursionError:
            raise InvalidFeedback(
                f"invalid JSON: nested deeper than the decoder allows (max {MAX_NESTING})"
            ) from None
        except ValueError as exc:  # e.g. an integer literal past Python's digit limit
            raise InvalidFeedback(f"invalid JSON: {exc}") from None
    try:
        return _load(body)  # not a dict: the schema says so
    except ValidationError as exc:
        raise InvalidFeedback("schema: " + "; ".join(flatten_errors(exc.messages))) from None


def dump_feedback(event: dict) -> dict:
    """The JSON-ready form of a parsed event (inverse of parse_feedback)."""
    out = dict(event)
    out["occurred_at"] = event["occurred_at"].isoformat()
    return out


def idempotency_key(event: dict) -> str:
    """(source, event_id) as one string key."""
    return f"{event['source']}\x1f{event['event_id']}"
