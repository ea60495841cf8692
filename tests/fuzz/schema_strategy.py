"""Hypothesis strategies from our exported JSON Schemas (contracts/jsonschema/).

hypothesis-jsonschema 0.23.1, the latest release, fails against the pinned
hypothesis 6.170.15 (it calls ``many.more()``, a private API hypothesis has since
removed: every object schema raises AttributeError), so this module covers the
keywords our exported schemas use, which ``KEYWORDS`` lists; an unknown keyword
raises instead of being ignored, so a schema that outgrows this fails loudly.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import strategies as st

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "contracts" / "jsonschema"
KEYWORDS = {
    "$schema",
    "$id",
    "title",
    "description",
    "x-unknown-fields",
    "x-key-rule",
    "propertyNames",
    "type",
    "const",
    "enum",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
}
INT64 = (-(2**63), 2**63 - 1)
# Text without lone surrogates (JSON can carry them, but they are not Unicode).
TEXT = st.characters(codec="utf-8")
KEY_TEXT = st.characters(codec="utf-8", exclude_characters="\x00")
# Keys that stores and queries treat specially yet the contract accepts. Keys that
# start with "$" or hold "." or NUL are refused at any depth (the contract's
# x-key-rule, contracts.base.key_errors): the malformed recipes send those.
AWKWARD_KEYS = ("_id", "", "__proto__", "__type__", "constructor", "键", "where$", "a-b")
KEY_RULE = re.compile(r"^(?!\$)[^.\x00]*$")


def load_schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.v1.json").read_text(encoding="utf-8"))


def json_keys() -> st.SearchStrategy[str]:
    """Object keys the contract accepts at any depth (propertyNames / x-key-rule)."""
    return st.one_of(st.text(KEY_TEXT, max_size=12), st.sampled_from(AWKWARD_KEYS)).filter(KEY_RULE.match)


def json_values(max_leaves: int = 8) -> st.SearchStrategy:
    """Any JSON value our contracts accept as free-form data (64-bit ints, finite floats)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(*INT64),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(TEXT, max_size=30),
        # kombu's JSON type markers: plain objects for us, never decoded into Decimal etc.
        st.sampled_from(["decimal", "datetime", "uuid", "bytes"]).map(
            lambda t: {"__type__": t, "__value__": "1.5"}
        ),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_keys(), inner, max_size=3),
        max_leaves=max_leaves,
    )


def _datetimes(fmt: str) -> st.SearchStrategy[str]:
    if fmt != "date-time":
        raise ValueError(f"format {fmt!r} is not supported")
    offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
    moments = st.datetimes(
        min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=offsets
    )
    return st.builds(
        lambda moment, zulu: (
            moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if zulu else moment.isoformat()
        ),
        moments,
        st.booleans(),
    )


def _string(schema: dict) -> st.SearchStrategy[str]:
    if "format" in schema:
        return _datetimes(schema["format"])
    if "pattern" in schema:
        # every pattern we export is anchored with ^…$
        return st.from_regex(schema["pattern"], fullmatch=True)
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    shorter = st.text(TEXT, min_size=low, max_size=max(low, min(high or 40, 40)))
    if high is None or high <= 40:
        return shorter
    # Now and then the longest allowed, built by repetition (hypothesis draws at most a
    # few thousand characters); a 10,000-character text costs the alerts service 0.2 s.
    longest = st.text(TEXT, min_size=1, max_size=8).map(lambda t: (t * high)[:high])
    return st.one_of(shorter, shorter, shorter, longest) if high > 1000 else shorter | longest


def _object(schema: dict) -> st.SearchStrategy[dict]:
    properties = schema.get("properties", {})
    required = set(schema.get("required", ()))
    known = st.fixed_dictionaries(
        {k: from_schema(v) for k, v in properties.items() if k in required},
        optional={k: from_schema(v) for k, v in properties.items() if k not in required},
    )
    extra = schema.get("additionalProperties", True)
    if extra is False:
        return known
    values = json_values() if extra is True else from_schema(extra)
    unknown = st.dictionaries(json_keys().filter(lambda k: k not in properties), values, max_size=3)
    return st.builds(lambda a, b: {**b, **a}, known, unknown)


def from_schema(schema: dict) -> st.SearchStrategy:
    """Instances of ``schema`` (the subset of JSON Schema listed in KEYWORDS)."""
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise ValueError(f"keywords not supported here: {sorted(unknown)}")
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    types = schema.get("type")
    if isinstance(types, list):
        return st.one_of([from_schema({**schema, "type": t}) for t in types])
    if types == "null":
        return st.none()
    if types == "boolean":
        return st.booleans()
    if types == "integer":
        return st.integers(schema.get("minimum", INT64[0]), schema.get("maximum", INT64[1]))
    if types == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if types == "string":
        return _string(schema)
    if types == "array":
        items = from_schema(schema["items"]) if "items" in schema else json_values()
        low = schema.get("minItems", 0)
        return st.lists(items, min_size=low, max_size=max(low, min(schema.get("maxItems", 4), 4)))
    if types == "object":
        return _object(schema)
    if types is None:
        return json_values()
    raise ValueError(f"type {types!r} is not supported")
