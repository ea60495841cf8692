"""Shared pieces of every contract schema."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates


class StrictInt(fields.Integer):
    """An integer that refuses booleans, numeric strings and fractions.

    marshmallow's ``Integer(strict=True)`` still accepts ``True``; a score of
    ``true`` is a producer bug we want named, not stored as 1. ``4.0`` is the
    integer 4: JSON has one number type, and the exported JSON Schema's
    ``integer`` accepts it (schemathesis sent ``"csat": 1.0`` and got a 400).
    """

    def __init__(self, **kwargs):
        super().__init__(strict=True, **kwargs)

    def _validated(self, value):
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
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


INT64 = (-(2**63), 2**63 - 1)
# MongoDB refuses documents nested deeper than 100 levels; stored events and
# rules sit a few levels down inside their documents.
MAX_NESTING = 80
# Python's datetime ends at year 9999 and the services add days, weeks and
# retention periods to these times: far-off years overflow before they are stored.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)


def unstorable(
    value: Any, path: str = "", depth: int = 0, limit: int = 10, max_nesting: int = MAX_NESTING
) -> list[tuple[str, str]]:
    """``(path, reason)`` for each part of a decoded JSON value that cannot travel
    on as JSON or be stored as BSON: an unpaired UTF-16 surrogate (``"\\ud800"``),
    NaN or infinity, an integer outside 64 bits, a NUL in a key, or nesting
    deeper than ``max_nesting``. At most ``limit`` are reported.
    """
    found: list[tuple[str, str]] = []

    def visit(node: Any, at: str, level: int) -> None:
        if len(found) >= limit:
            return
        name = at or "_schema"
        if isinstance(node, (dict, list)) and level >= max_nesting:  # objects and arrays in each other
            found.append((name, f"nested deeper than {max_nesting} levels"))
        elif isinstance(node, dict):
            for key, item in node.items():
                key = str(key)
                # a bad key is shown escaped: the error itself must stay valid UTF-8 and BSON
                shown = key.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
                child = f"{at}.{shown}" if at else shown
                if "\x00" in key:
                    found.append((child, "a key must not contain the NUL character"))
                elif shown != key:
                    found.append((child, "a key holds an unpaired UTF-16 surrogate"))
                else:
                    visit(item, child, level + 1)
        elif isinstance(node, list):
            for index, item in enumerate(node):
                visit(item, f"{at}.{index}" if at else str(index), level + 1)
        elif isinstance(node, str):
            if not _utf8(node):
                found.append((name, "holds an unpaired UTF-16 surrogate (not valid Unicode)"))
        elif isinstance(node, bool) or node is None:
            pass
        elif isinstance(node, int):
            if not INT64[0] <= node <= INT64[1]:
                found.append((name, "an integer outside the 64-bit range"))
        elif isinstance(node, float) and not math.isfinite(node):
            found.append((name, "NaN and infinity are not JSON numbers"))

    visit(value, path, depth)
    return found


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def in_time_range(value: datetime) -> None:
    """A marshmallow validator: an aware time between EARLIEST and LATEST."""
    if not EARLIEST <= value <= LATEST:
        raise ValidationError(f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")


def bounded_str(max_length: int, *, min_length: int = 1, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=min_length, max=max_length), **kwargs)


class Pattern(validate.Regexp):
    """``validate.Regexp`` over the whole value. Python's ``$`` also matches before a final
    newline (``"C42\\n"`` matched ``^…$``) where JSON Schema's (ECMA's) ``$`` is the end of
    the value: a request the services accepted could then break the published schema of the
    message it caused (an add-collaborator request with ``"person": "x\\n"`` answered 500).
    The pattern itself is unchanged, so it is exported to the JSON Schemas as it is."""

    def __call__(self, value):
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


# An id (a customer key, a case id, who acted) is stored and queried by equality:
# no leading "$" (an operator, or a field path inside an aggregation), no control
# characters. The pattern is exported to the JSON Schemas as it is.
ID_PATTERN = r"^(?!\$)[^\x00-\x1f\x7f]+$"
NOT_AN_ID = "an id: must not start with '$' or contain control characters"


def id_str(max_length: int, **kwargs) -> fields.String:
    return fields.String(
        validate=[validate.Length(min=1, max=max_length), Pattern(ID_PATTERN, error=NOT_AN_ID)],
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
