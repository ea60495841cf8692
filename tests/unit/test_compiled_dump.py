"""The compiled dump (contracts/dumping.py) against marshmallow's ``Schema.dump``, on every
message type: documents drawn from each exported schema and loaded by the consumer's
schema (so they hold what producers hand over: aware times, ints, nested objects, lists,
free-form dicts), then given undeclared keys at every level and values of a neighbouring
type (an int where a string goes, a float or a numeric string where an integer goes, a
string where a time goes). Both must give the same JSON, or both raise the same error.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from marshmallow import Schema, ValidationError, fields

from contracts.dumping import dumper, message_dumper, uncompiled
from contracts.messages import MESSAGES, schema_of
from services.common.messaging import serialize
from tests.fuzz.schema_strategy import from_schema, load_schema
from tests.unit.test_published_check import put

TYPES = sorted(MESSAGES)


def canonical(value: Any) -> str:
    """JSON with sorted keys; a value JSON cannot hold is shown with its type, so a
    ``datetime`` never equals its ISO string and ``True`` never equals ``1``."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, default=lambda o: f"<{type(o).__name__} {o!r}>"
    )


def outcome(dump, obj) -> str:
    try:
        return "ok " + canonical(dump(obj))
    except Exception as exc:  # the same failure on both sides is the same outcome
        return f"raised {type(exc).__name__}"


NOISE = {"_id": "internal", "items": [1], "x.y": {"$z": 1}}  # undeclared keys, one named like a dict method
NEIGHBOURS = {
    str: lambda v: [12, 3.5, b"bytes"],
    bool: lambda v: [1, 0, "true", "no", None],
    int: lambda v: [float(v), str(v), v + 0.5, True],
    float: lambda v: [int(v), str(v)],
    datetime: lambda v: [v.isoformat(), v.replace(tzinfo=None), 0],
    list: lambda v: [tuple(v), None],
    dict: lambda v: [None, list(v.items())],
}


def places(doc: Any, path: tuple = ()) -> list[tuple[tuple, Any]]:
    found = [(path, doc)]
    if isinstance(doc, dict):
        for key, item in doc.items():
            found += places(item, (*path, key))
    elif isinstance(doc, list):
        for index, item in enumerate(doc):
            found += places(item, (*path, index))
    return found


def loaded_documents(event_type: str) -> st.SearchStrategy[dict]:
    def load(doc: dict):
        try:
            return schema_of(event_type).load(doc)
        except ValidationError:
            return None

    return from_schema(load_schema(event_type)).map(load).filter(lambda d: d is not None)


@pytest.mark.parametrize("event_type", TYPES)
def test_every_message_schema_is_compiled_whole(event_type):
    assert uncompiled(schema_of(event_type)) == []


@pytest.mark.parametrize("event_type", TYPES)
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_compiled_dump_gives_what_marshmallow_gives(event_type, data):
    schema = schema_of(event_type)
    doc = data.draw(loaded_documents(event_type))
    assert outcome(message_dumper(event_type), doc) == outcome(schema.dump, doc)

    # undeclared keys at every level are left out alike
    noisy = doc
    for path, value in places(doc):
        if isinstance(value, dict):  # keys the object has already keep their values (and subtrees)
            noisy = put(noisy, path, {**NOISE, **value})
    assert outcome(message_dumper(event_type), noisy) == outcome(schema.dump, noisy)

    # a value of a neighbouring type: converted, or refused, alike
    candidates = [(p, v) for p, v in places(doc) if p and type(v) in NEIGHBOURS]
    assume(candidates)
    path, value = data.draw(st.sampled_from(candidates))
    other = data.draw(st.sampled_from(NEIGHBOURS[type(value)](value)))
    changed = put(doc, path, other)
    assert outcome(message_dumper(event_type), changed) == outcome(schema.dump, changed)


def test_a_missing_key_a_default_and_an_unknown_field_follow_marshmallow():
    class Inner(Schema):
        n = fields.Integer(dump_default=7)

    class Odd(fields.Field):
        def _serialize(self, value, attr, obj, **kwargs):
            return f"odd:{value}"

    class Outer(Schema):
        text = fields.String()
        when = fields.DateTime(format="%Y")  # not ISO: left to marshmallow
        odd = Odd()
        inner = fields.Nested(Inner)
        many = fields.List(fields.Nested(Inner))
        tags = fields.Dict(values=fields.Integer())
        keys = fields.String()  # a dict has a method of that name

    schema = Outer()
    assert set(uncompiled(schema)) == {"when", "odd"}
    dump = dumper(schema)
    for obj in (
        {},
        {"text": None, "inner": {}, "many": [{}, {"n": "3"}], "tags": {"a": "1"}},
        {"when": datetime(2026, 12, 6), "odd": 1, "inner": None, "keys": "k"},
    ):
        assert outcome(dump, obj) == outcome(schema.dump, obj)


def test_serialize_publishes_the_compiled_dump_and_still_checks_the_published_schema():
    from services.common.messaging import ContractViolation

    payload = {
        "customer_id": "C1",
        "cause": {"kind": "feedback", "key": "survey|e1"},
        "updated_at": datetime.fromisoformat("2026-12-06T10:00:00+00:00"),
        "feedback_count": 3,
        "latest_scores": {"nps": 4},
        "internal": "left out",
    }
    data = serialize("profile_updated", payload)
    assert data == schema_of("profile_updated").dump({"schema_version": 1, **payload})
    assert "internal" not in data and data["updated_at"] == "2026-12-06T10:00:00+00:00"
    with pytest.raises(ContractViolation, match="customer_id"):
        serialize("profile_updated", {k: v for k, v in payload.items() if k != "customer_id"})
