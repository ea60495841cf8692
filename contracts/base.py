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
