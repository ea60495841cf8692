"""Shared pieces of every contract schema."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates


class StrictInt(fields.Integer):
    """An integer that refuses booleans and numeric strings.

    marshmallow's ``Integer(strict=True)`` still accepts ``True``; a score of
    ``true`` is a producer bug we want named, not stored as 1.
    """

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class Message(Schema):
    """Base of every message the services exchange.

    Readers are tolerant: unknown fields from a newer producer are ignored on
    load (EXCLUDE), so adding an optional field is not a breaking change.
    ``SCHEMA_VERSION`` is the version this schema reads and writes.
    """

    SCHEMA_VERSION = 1

    class Meta:
        unknown = EXCLUDE

    schema_version = StrictInt(required=True, metadata={"description": "message schema version"})

    @validates("schema_version")
    def _check_version(self, value, **_):
        if value != self.SCHEMA_VERSION:
            raise ValidationError(
                f"unsupported schema_version {value!r}; this reader accepts {self.SCHEMA_VERSION}"
            )


def bounded_str(max_length: int, *, min_length: int = 1, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=min_length, max=max_length), **kwargs)


# An id (a customer key, a case id, who acted) is stored and queried by equality:
# no leading "$" (an operator, or a field path inside an aggregation), no control
# characters. The pattern is exported to the JSON Schemas as it is.
ID_PATTERN = r"^(?!\$)[^\x00-\x1f\x7f]+$"
NOT_AN_ID = "an id: must not start with '$' or contain control characters"


def id_str(max_length: int, **kwargs) -> fields.String:
    return fields.String(
        validate=[validate.Length(min=1, max=max_length), validate.Regexp(ID_PATTERN, error=NOT_AN_ID)],
        **kwargs,
    )


# Keys of free-form objects: never an operator ("$…"), never a path ("a.b"), no NUL.
KEY_PATTERN = r"^(?!\$)[^.\x00]*$"
MAX_KEY_DEPTH = 32


def key_errors(value, path: str = "", depth: int = 0) -> list[str]:
    """``path: problem`` lines for every mapping key in ``value`` (at any depth) that
    starts with ``$``, contains ``.`` or NUL, and for nesting deeper than MAX_KEY_DEPTH."""
    if depth > MAX_KEY_DEPTH:
        return [f"{path or '_schema'}: nested deeper than {MAX_KEY_DEPTH} levels"]
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str) or key.startswith("$") or "." in key or "\x00" in key:
                out.append(f"{where}: keys must not start with '$' or contain '.' or NUL")
            else:
                out.extend(key_errors(item, where, depth + 1))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(key_errors(item, f"{path}.{index}" if path else str(index), depth + 1))
    return out


def flatten_errors(messages, prefix: str = "") -> list[str]:
    """Turn marshmallow's nested error dict into ``path: message`` lines.

    ``{"customer": {"id": ["Missing data"]}}`` → ``["customer.id: Missing data"]``.
    These lines are what dead-letter reasons and API 4xx bodies show.
    """
    out: list[str] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            key = str(key)
            path = f"{prefix}.{key}" if prefix and key else (prefix or key)
            out.extend(flatten_errors(value, path))
    elif isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            out.extend(f"{prefix or '_schema'}: {m}" for m in messages)
        else:
            for m in messages:
                out.extend(flatten_errors(m, prefix))
    else:
        out.append(f"{prefix or '_schema'}: {messages}")
    return out


def utcnow() -> datetime:
    return datetime.now(UTC)
