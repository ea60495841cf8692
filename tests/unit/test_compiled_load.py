"""The compiled load (contracts/loading.py) against marshmallow's ``Schema.load`` on every
message type: documents drawn from each exported schema, as they are and broken in one
place (a required field dropped, a null, a value of another type, an undeclared enum
value, a string one character too long or against its pattern, a time outside the
contract's range or without a zone, an undeclared key, a dict or list where a scalar
goes and the other way round). Both give the same loaded message, or both refuse it with
the same field messages (the compiled load hands every message it does not accept to
marshmallow, so a dead-letter reason is what it was)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from contracts.loading import fast_path, loader, message_loader
from contracts.messages import MESSAGES, schema_of
from services.common.messaging import InvalidMessage
from tests.fuzz.schema_strategy import from_schema, load_schema
from tests.unit.test_compiled_dump import canonical, places
from tests.unit.test_published_check import put

TYPES = sorted(MESSAGES)


def outcome(load, doc) -> str:
    try:
        return "ok " + canonical(load(doc))
    except ValidationError as exc:
        return "refused " + canonical(exc.messages)


def same(event_type: str, doc) -> None:
    """The compiled load gives marshmallow's outcome; its fast path alone gives the same
    message where marshmallow accepts, and never accepts what marshmallow refuses."""
    schema = schema_of(event_type)
    expected = outcome(schema.load, doc)
    assert outcome(message_loader(event_type), doc) == expected
    fast = fast_path(schema)
    try:
        alone = "ok " + canonical(fast(doc))
    except Exception:
        alone = "referred"
    assert alone == (expected if expected.startswith("ok ") else "referred")


BREAKS = [
    None,
    12,
    12.5,
    True,
    "",
    "x" * 4001,
    "$id",
    "no-such-choice",
    "1969-12-31T23:59:59+00:00",
    "2026-12-06T10:00:00",
    "2026-12-06T10:00:00+08:00",
    {},
    {"a.b": 1},
    [],
    [None],
    2**70,
]


@pytest.mark.parametrize("event_type", TYPES)
def test_every_message_schema_has_a_fast_path(event_type):
    assert fast_path(schema_of(event_type))


@pytest.mark.parametrize("event_type", TYPES)
@settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_compiled_load_gives_what_marshmallow_gives(event_type, data):
    doc = data.draw(from_schema(load_schema(event_type)))
    same(event_type, doc)

    spots = places(doc)
    path, value = data.draw(st.sampled_from(spots))
    if path:
        broken = put(doc, path, data.draw(st.sampled_from(BREAKS)))
        same(event_type, broken)
        parent, last = path[:-1], path[-1]
        holder = doc
        for step in parent:
            holder = holder[step]
        if isinstance(holder, dict):
            dropped = put(doc, parent, {k: v for k, v in holder.items() if k != last})
            same(event_type, dropped)
    if isinstance(value, dict):
        extra = put(doc, path, {**value, "undeclared": {"x": 1}})
        same(event_type, extra)


def test_unknown_keys_hooks_and_defaults_follow_marshmallow():
    class Strict(Schema):
        class Meta:
            unknown = RAISE

        n = fields.Integer(load_default=3)

    class Loose(Schema):
        class Meta:
            unknown = EXCLUDE

        strict = fields.Nested(Strict, required=True)
        many = fields.List(fields.Nested(Strict, allow_none=True))
        tags = fields.Dict(keys=fields.String(validate=validate.Length(max=3)), values=fields.Integer())
        word = fields.String(validate=validate.OneOf(["a", "b"]), allow_none=True)

        @validates("word")
        def _no_b(self, value, **_):
            if value == "b":
                raise ValidationError("not b")

    schema = Loose()
    load, fast = loader(schema), fast_path(schema)
    assert fast is not None
    for doc in (
        {"strict": {}},
        {"strict": {"n": 1}, "many": [{}, None], "tags": {"abc": 1}, "word": None, "other": 1},
        {"strict": {"n": 1, "extra": 2}},
        {"strict": {}, "many": [{"n": "x"}]},
        {"strict": {}, "tags": {"abcd": 1}},
        {"strict": {}, "word": "b"},
        {"strict": {}, "word": "c"},
        {"many": []},
        "not an object",
    ):
        expected = outcome(schema.load, doc)
        assert outcome(load, doc) == expected, doc
        if expected.startswith("ok "):
            assert outcome(fast, doc) == expected, doc

    class Hooked(Schema):
        x = fields.Integer()

        @pre_load
        def _object_only(self, data, **_):
            if not isinstance(data, dict):
                raise ValidationError("an object, please")
            return data

        @validates_schema(pass_original=True)
        def _no_y(self, data, original, **_):
            if "y" in original:
                raise ValidationError({"y": ["not wanted"]})

        @post_load
        def _double(self, data, **_):
            return {**data, "x": data.get("x", 0) * 2}

    hooked = Hooked()
    load, fast = loader(hooked), fast_path(hooked)
    assert fast is not None  # the hooks run as Schema.load runs them
    for doc in ({"x": 2}, {}, {"x": 2, "y": 1}, {"x": "z"}, [1]):
        expected = outcome(hooked.load, doc)
        assert outcome(load, doc) == expected, doc
        if expected.startswith("ok "):
            assert outcome(fast, doc) == expected, doc
    assert load({"x": 2}) == {"x": 4}

    class NestedHooks(Schema):
        inner = fields.Nested(Hooked)

    assert fast_path(NestedHooks()) is None  # a nested schema's hooks: marshmallow's load


def test_the_consumer_parses_with_the_compiled_load_and_names_what_is_wrong():
    from services.common.messaging import ContractEventHandler

    handler = ContractEventHandler.__new__(ContractEventHandler)
    handler.event_type = "profile_updated"
    body = {
        "schema_version": 1,
        "customer_id": "C1",
        "cause": {"kind": "feedback", "key": "survey|e1"},
        "updated_at": "2026-12-06T10:00:00+00:00",
        "feedback_count": 3,
        "latest_scores": {"nps": 4},
        "newer_field": "ignored",
    }
    (loaded,) = handler.parse(body, None)
    assert loaded == schema_of("profile_updated").load(body)
    with pytest.raises(InvalidMessage, match="feedback_count"):
        handler.parse({**body, "feedback_count": "three"}, None)


def feedback_outcome(load, body) -> str:
    try:
        return "ok " + canonical(load(body))
    except ValidationError as exc:
        return "refused " + canonical(exc.messages)


def same_feedback(body) -> None:
    from contracts.feedback import _load, _schema

    expected = feedback_outcome(_schema.load, body)
    assert feedback_outcome(_load, body) == expected
    try:
        alone = "ok " + canonical(_load.fast(body))
    except Exception:
        alone = "referred"
    assert alone == (expected if expected.startswith("ok ") else "referred")


def test_the_sample_stream_and_its_malformed_messages_load_alike():
    root = Path(__file__).resolve().parents[2] / "samples"
    lines = [*(root / "feedback.jsonl").read_text("utf-8").splitlines()]
    lines += (root / "malformed.jsonl").read_text("utf-8").splitlines()
    checked = 0
    for line in lines:
        try:
            body = json.loads(line)
        except ValueError:
            continue  # not JSON: parse_feedback refuses it before any schema
        same_feedback(body)
        checked += 1
    assert checked >= 100


@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_compiled_feedback_load_gives_what_marshmallow_gives(data):
    doc = data.draw(from_schema(load_schema("feedback_event")))
    same_feedback(doc)
    path, value = data.draw(st.sampled_from(places(doc)))
    if path:
        same_feedback(put(doc, path, data.draw(st.sampled_from(BREAKS))))
    if isinstance(value, dict):
        same_feedback(put(doc, path, {**value, "a.b": 1}))
        same_feedback(put(doc, path, {**value, "$x": {"\x00": 1}}))
