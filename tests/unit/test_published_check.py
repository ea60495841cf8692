"""The producer's check (contracts/published.py: the published JSON Schema, compiled)
against the consumer's (the full marshmallow schema), on every message type.

Documents are drawn from each exported schema (tests/fuzz/schema_strategy.py), then one
place in them is broken: a required field dropped, a value of the wrong type, an enum
value no one declared, a string one character too long, an id or key against its
pattern. Whatever the consumer's schema refuses there, the producer's check refuses too,
so a producer never publishes what its consumers would dead-letter for those reasons.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.messages import MESSAGES, schema_of
from contracts.published import Breach, check_published
from services.common.messaging import ContractViolation, serialize
from tests.fuzz.schema_strategy import from_schema, load_schema

TYPES = sorted(MESSAGES)


def places(schema: dict, doc: Any, path: tuple = ()) -> list[tuple[tuple, dict, Any]]:
    """(path, its schema, its value) for every value of ``doc`` the schema describes."""
    found = [(path, schema, doc)]
    if isinstance(doc, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key in doc:
                found += places(sub, doc[key], (*path, key))
    elif isinstance(doc, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(doc):
            found += places(schema["items"], item, (*path, index))
    return found


def breakages(schema: dict, value: Any) -> list[tuple[str, Any]]:
    """Ways to break one value against its own schema: (what, the broken value)."""
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    out: list[tuple[str, Any]] = [("wrong type", 12.5 if "number" not in types else "12.5")]
    if "enum" in schema:
        out.append(("undeclared enum value", "no-such-choice"))
    if isinstance(value, str) and "maxLength" in schema:
        out.append(("too long", "x" * (schema["maxLength"] + 1)))
    if isinstance(value, str) and schema.get("pattern", "").startswith("^(?!\\$)"):
        out.append(("against its pattern", "$" + value))
    if isinstance(value, dict):
        for name in schema.get("required", ()):
            out.append((f"without {name}", {k: v for k, v in value.items() if k != name}))
        if "propertyNames" in schema:
            out.append(("a key with a dot", {**value, "a.b": 1}))
    return out


def put(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = put(doc[path[0]], path[1:], value)
    return copy


@pytest.mark.parametrize("event_type", TYPES)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_producer_check_refuses_what_the_consumer_refuses(event_type, data):
    schema = load_schema(event_type)
    doc = data.draw(from_schema(schema), label="document")
    check_published(event_type, doc)  # a document of the published schema passes its check
    path, sub, value = data.draw(st.sampled_from(places(schema, doc)), label="place")
    what, broken = data.draw(st.sampled_from(breakages(sub, value)), label="breakage")
    mutated = put(doc, path, broken)
    if schema_of(event_type).validate(mutated):  # the consumer would dead-letter it
        with pytest.raises(Breach):
            check_published(event_type, mutated)


def test_a_breach_names_the_field_and_serialize_refuses_it():
    with pytest.raises(Breach, match=r"^level: must be one of"):
        check_published(
            "case_assigned",
            {
                "schema_version": 1,
                "case_id": "CASE-1",
                "customer_id": "C1",
                "level": "P9",
                "assignee": {"kind": "person", "id": "a"},
                "assigned_at": "2026-12-06T10:00:00+00:00",
                "assigned_by": "system",
                "reason": "rule owner",
            },
        )
    with pytest.raises(ContractViolation, match=r"^case_assigned: _schema: must contain .*case_id"):
        serialize("case_assigned", {"assignee": {"kind": "person", "id": "a"}})
