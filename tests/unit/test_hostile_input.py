"""Input that schemathesis found getting past validation (tests/e2e/test_api_fuzz.py), checked
without a broker: each is refused with the field it concerns, never a 500 or a worker crash."""

from __future__ import annotations

import json

import pytest

from contracts.base import MAX_NESTING, unstorable
from contracts.feedback import InvalidFeedback, parse_feedback
from services.gateway import openapi
from services.gateway.errors import reason_lines
from tests.unit.test_contracts import event


def deep(levels: int):
    return json.loads("[" * levels + "]" * levels)


@pytest.mark.parametrize(
    "value, found",
    [
        ({"a\x00b": 1}, [("a\\x00b", "a key must not contain the NUL character")]),
        ({"x": ["\ud800"]}, [("x.0", "holds an unpaired UTF-16 surrogate (not valid Unicode)")]),
        ({"\udfffk": 1}, [("\\udfffk", "a key holds an unpaired UTF-16 surrogate")]),
        ({"n": 2**63}, [("n", "an integer outside the 64-bit range")]),
        ({"n": -(2**63) - 1}, [("n", "an integer outside the 64-bit range")]),
        (
            {"f": float("nan"), "g": float("inf")},
            [("f", "NaN and infinity are not JSON numbers"), ("g", "NaN and infinity are not JSON numbers")],
        ),
        ({"ok": [2**63 - 1, -(2**63), 1.5, True, None, "文本", {"a.b": "$x"}]}, []),
    ],
)
def test_unstorable_names_each_part_the_store_or_json_cannot_take(value, found):
    assert unstorable(value) == found


def test_nesting_is_bounded_below_mongodbs_100_levels():
    assert unstorable({"a": deep(MAX_NESTING - 1)}) == []
    [(path, reason)] = unstorable({"a": deep(MAX_NESTING)}, "body")
    assert path.startswith("body.a.0.0") and reason == f"nested deeper than {MAX_NESTING} levels"


@pytest.mark.parametrize(
    "overrides, reason",
    [
        # found by schemathesis: the UTC conversion overflowed (500 at the gateway)
        ({"occurred_at": "0001-01-01T00:00:00+01:00"}, "occurred_at: must lie between"),
        ({"occurred_at": "9999-12-31T23:59:59-01:00"}, "occurred_at: must lie between"),
        ({"occurred_at": "1969-12-31T23:59:59+00:00"}, "occurred_at: must lie between"),
        # accepted, then failed in every consumer on insert (BSON) until dead-lettered
        ({"attributes": {"a\x00b": 1}}, "attributes.a\\x00b: a key must not contain the NUL character"),
        ({"attributes": {"big": 10**30}}, "attributes.big: an integer outside the 64-bit range"),
        ({"text": "\ud800"}, "text: holds an unpaired UTF-16 surrogate"),
        ({"customer": {"id": "C1", "x": deep(MAX_NESTING)}}, "customer.x.0"),
    ],
)
def test_feedback_the_store_cannot_take_is_invalid_with_its_field(overrides, reason):
    with pytest.raises(InvalidFeedback) as caught:
        parse_feedback(event(**overrides))
    assert reason in caught.value.reason


def test_feedback_at_the_edges_of_the_time_range_is_valid():
    for moment in ("1970-01-01T08:00:00+08:00", "2999-12-31T23:59:59+00:00"):
        assert parse_feedback(event(occurred_at=moment))["occurred_at"].year in (1970, 2999)


def test_a_services_reasons_split_into_lines_only_at_the_next_field():
    reason = "since: must be a duration like 30d or 12h, or an ISO 8601 time; got '99999d'; until: bad"
    assert reason_lines(reason) == [
        "since: must be a duration like 30d or 12h, or an ISO 8601 time; got '99999d'",
        "until: bad",
    ]
    assert reason_lines("when.all.0.op: unknown operator") == ["when.all.0.op: unknown operator"]
    # an unknown key a caller sent, control character and all, is a field of its own
    assert reason_lines("when: Missing data for required field.; K\x91: Unknown field.") == [
        "when: Missing data for required field.",
        "K\x91: Unknown field.",
    ]


def test_openapi_documents_what_json_bodies_can_answer():
    """schemathesis: 415 and 413 were answered but undocumented; a backtest of an unknown
    rule answered 404; required bodies were marked optional; nested objects that refuse
    unknown fields were documented as open."""
    document = openapi.build_openapi()
    operations = [op for path in document["paths"].values() for op in path.values()]
    for op in operations:
        body = op.get("requestBody")
        if body is None:
            assert "415" not in op["responses"], op["operationId"]
            continue
        assert {"411", "413", "415"} <= set(op["responses"]), op["operationId"]
        schema = body["content"]["application/json"]["schema"]
        if schema.get("required"):
            assert body["required"] is True, op["operationId"]
    backtest = document["paths"]["/api/v1/rules/backtest"]["post"]
    assert "404" in backtest["responses"]
    rule = backtest["requestBody"]["content"]["application/json"]["schema"]["properties"]["rule"]
    assert {alt["type"] for alt in rule["anyOf"]} == {"string", "object"}
    assign = document["paths"]["/api/v1/cases/{case_id}/assign"]["post"]["requestBody"]
    assignee = assign["content"]["application/json"]["schema"]["properties"]["assignee"]
    assert assignee["additionalProperties"] is False and assignee["required"] == ["kind", "id"]
    start = document["paths"]["/api/v1/cases/{case_id}/start"]["post"]["requestBody"]
    assert start["required"] is False  # every field optional: no body at all is fine


def test_a_whole_number_written_as_a_float_is_the_integer_json_schema_says_it_is():
    """schemathesis generated ``"csat": 1.0`` from the document's ``integer``: it was refused."""
    assert parse_feedback(event(scores={"nps": 9.0, "csat": 1.0}))["scores"] == {"nps": 9, "csat": 1}
    for bad in (9.5, "9", True):
        with pytest.raises(InvalidFeedback, match="scores.nps"):
            parse_feedback(event(scores={"nps": bad}))


def test_a_created_rule_links_to_every_operation_on_that_rule():
    """The stateful phase found no link ("0 covered / 21 inferred"): rules.create now names them."""
    document = openapi.build_openapi()
    links = document["paths"]["/api/v1/rules"]["post"]["responses"]["201"]["links"]
    assert set(links) == {"rules.get", "rules.update", "rules.enable", "rules.disable"}
    assert {link["parameters"]["rule_id"] for link in links.values()} == {"$response.body#/id"}
