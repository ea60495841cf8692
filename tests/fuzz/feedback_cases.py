"""Fuzz cases for the feedback consumers: valid events from the JSON Schema, then mutated.

A case is drawn as a recipe and built for its index, so identifiers are unique
per run whatever hypothesis draws. Every case says whether it is valid and,
when malformed, a piece of text its dead-letter reason must contain (the field
path, or what was wrong with the message).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from contracts.feedback import MAX_BODY_BYTES, MAX_NESTING
from tests.fuzz.schema_strategy import INT64, TEXT, from_schema, json_values, load_schema

CASE_HEADER = "x-fuzz-case"
JSON = "application/json"


@dataclass
class Case:
    kind: str
    body: bytes
    valid: bool
    expect: str = ""  # in the reason of a malformed case
    content_type: str | None = JSON
    content_encoding: str | None = "utf-8"
    headers: dict = field(default_factory=dict)
    event_id: str | None = None  # of a valid case
    customer_id: str | None = None


Recipe = Callable[[int], Case]


def _event_schema() -> dict:
    return load_schema("feedback_event")


@cache
def valid_events() -> st.SearchStrategy[dict]:
    """Events the contract accepts, from its JSON Schema, unknown fields included."""
    return from_schema(_event_schema())


def _identify(event: dict, index: int, prefix: str) -> dict:
    """Unique ids, and a detractor score: every valid case raises exactly one alert."""
    event = dict(event)
    event["event_id"] = f"{prefix}-{index}"
    event["source"] = "fuzz"
    event["customer"] = {**event["customer"], "id": f"{prefix}-c{index}"}
    return event


def _dumps(event) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode("utf-8")


def _valid(event: dict, index: int, detractor: int) -> Case:
    event = _identify(event, index, "ok")
    event["scores"] = {**(event.get("scores") or {}), "nps": detractor}
    # touchpoint/channel stay as drawn; alert dedup is per customer and each case has its own
    return Case("valid", _dumps(event), True, event_id=event["event_id"], customer_id=event["customer"]["id"])


# -- valid, with headers a hostile publisher might set --------------------------------------------------

HEADER_INT = st.integers(-(2**31), 2**31 - 1)  # what an AMQP header table can carry
HOSTILE_HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "nameko.call_id_stack": st.one_of(
            HEADER_INT, st.text(max_size=5), st.lists(HEADER_INT, min_size=1, max_size=3), st.none()
        ),
        "call_id_stack": HEADER_INT,
        "nameko.user_id": st.one_of(HEADER_INT, st.lists(HEADER_INT, max_size=2), st.text(max_size=20)),
        "x-cx-attempts": st.one_of(st.text(max_size=5), st.just(-1)),
        "x-cx-reason": st.just("forged reason"),
        "x-cx-partition": st.one_of(HEADER_INT, st.text(max_size=10)),
        "nameko.language": st.text(max_size=20),
    },
).filter(bool)


# -- mutations: each makes the event invalid and names where -------------------------------------------

REQUIRED = ("schema_version", "event_id", "source", "occurred_at", "customer", "channel")
# a typed field → values of a type it never accepts (None is excluded where the field allows it)
NOT_STRING = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(st.integers(), max_size=2)
)
NOT_OBJECT = st.one_of(st.integers(), st.text(TEXT, max_size=10), st.lists(st.integers(), max_size=2))
NOT_INT = st.one_of(
    # a whole float (4.0) is the integer 4: JSON has one number type (contracts.base.StrictInt)
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()),
    st.text(TEXT, max_size=4),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
WRONG_TYPES = {
    "event_id": NOT_STRING | st.none(),
    "source": NOT_STRING | st.none(),
    "occurred_at": NOT_STRING | st.none(),
    "channel": NOT_STRING | st.none(),
    "customer": NOT_OBJECT | st.none(),
    "customer.id": NOT_STRING | st.none(),
    "customer.name": NOT_STRING,
    "customer.tier": NOT_STRING,
    "customer.attributes": NOT_OBJECT,
    "touchpoint": NOT_STRING,
    "text": NOT_STRING,
    "scores": NOT_OBJECT,
    "scores.nps": NOT_INT,
    "scores.csat": NOT_INT,
    "scores.ces": NOT_INT,
    "tags": st.one_of(st.integers(), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
    "attributes": NOT_OBJECT,
    "schema_version": st.one_of(st.just("1"), st.just(1.5), st.booleans(), st.none()),
}
TOO_LONG = {  # field → its limit
    "event_id": 128,
    "source": 64,
    "customer.id": 128,
    "customer.name": 200,
    "customer.tier": 32,
    "touchpoint": 64,
    "text": 10_000,
}
OUT_OF_RANGE = {"scores.nps": (0, 10), "scores.csat": (1, 5), "scores.ces": (1, 7)}
BAD_TIMES = st.one_of(
    st.sampled_from(
        ["2026-11-20T10:00:00", "2026-13-01T00:00:00Z", "2026-11-31T10:00:00+08:00", "", "yesterday", "1e9"]
    ),
    st.datetimes(min_value=datetime(1971, 1, 1)).map(lambda d: d.isoformat()),  # no offset
)
BAD_CHANNELS = st.one_of(
    st.sampled_from(["WeChat", "", "web site", "-web", "a" * 33, "渠道"]),
    st.from_regex(r"^[A-Z][a-z]{0,8}$", fullmatch=True),
)
INVALID_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xe2\x82",
    b"\x80",
    b"\xf8\x88\x80\x80\x80",
)
CONTENT_TYPES = (
    "text/plain",
    "application/xml",
    "application/x-python-serialize",
    "application/x-yaml",
    "application/data",
    "application/text",
    "application/json; charset=utf-8",
    "APPLICATION/JSON",
    None,
)
ENCODINGS = ("utf-16", "latin-1", "gzip", "base64", "bogus", "UTF-16LE", "x-gzip", "deflate")
# what a UTF-8 body may be labelled: kombu says "binary" for any bytes body, pika says nothing
UTF8_LABELS = ("utf-8", "binary", None, "UTF-8")


def _set(event: dict, path: str, value) -> dict:
    event = json.loads(json.dumps(event))
    *parents, last = path.split(".")
    node = event
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[last] = value
    return event


def _drop(event: dict, path: str) -> dict:
    event = json.loads(json.dumps(event))
    *parents, last = path.split(".")
    node = event
    for part in parents:
        node = node[part]
    node.pop(last, None)
    return event


def _bad(kind: str, expect: str, event_or_body, **extra) -> Case:
    body = event_or_body if isinstance(event_or_body, bytes) else _dumps(event_or_body)
    return Case(kind, body, False, expect=expect, **extra)


def _nested(depth: int, leaf) -> object:
    for level in range(depth):
        leaf = [leaf] if level % 2 else {"n": leaf}
    return leaf


# kind → weight (the share of cases it gets)
KINDS = {
    "valid": 12,
    "valid_hostile_headers": 4,
    "missing_required": 4,
    "wrong_type": 8,
    "schema_version": 3,
    "too_long": 4,
    "out_of_range": 3,
    "bad_time": 3,
    "bad_channel": 3,
    "deep_nesting": 3,
    "decoder_depth": 2,
    "invalid_utf8": 4,
    "surrogate_escape": 3,
    "not_json": 4,
    "not_object": 3,
    "unstorable_number": 3,
    "nul_key": 3,
    "content_type": 4,
    "content_encoding": 3,
    "compressed": 3,
    "oversize": 1,
    "huge_customer_id": 1,
}


@st.composite
def recipes(draw, kind: str) -> Recipe:
    """One fuzz case of ``kind``: a valid event from the schema, sent as is or broken in one way."""
    base = draw(valid_events())
    nps = draw(st.integers(0, 6))

    if kind == "valid":
        label = draw(st.sampled_from(UTF8_LABELS))

        def valid(i):
            case = _valid(base, i, nps)
            case.content_encoding = label
            return case

        return valid
    if kind == "valid_hostile_headers":
        headers = draw(HOSTILE_HEADERS)

        def hostile(i):
            case = _valid(base, i, nps)
            case.kind, case.headers = kind, headers
            return case

        return hostile

    def broken(i) -> dict:
        return _identify(base, i, "bad")

    if kind == "missing_required":
        path = draw(st.sampled_from(REQUIRED + ("customer.id",)))
        return lambda i: _bad(kind, path, _drop(broken(i), path))
    if kind == "wrong_type":
        path = draw(st.sampled_from(sorted(WRONG_TYPES)))
        value = draw(WRONG_TYPES[path])
        return lambda i: _bad(kind, path, _set(broken(i), path, value))
    if kind == "schema_version":
        version = draw(st.integers(*INT64).filter(lambda v: v != 1))
        return lambda i: _bad(kind, "schema_version", _set(broken(i), "schema_version", version))
    if kind == "too_long":
        path = draw(st.sampled_from(sorted(TOO_LONG)))
        length = TOO_LONG[path] + draw(st.integers(1, 3 * TOO_LONG[path]))
        unit = draw(st.text(TEXT, min_size=1, max_size=4))
        return lambda i: _bad(kind, path, _set(broken(i), path, (unit * length)[:length]))
    if kind == "out_of_range":
        path = draw(st.sampled_from(sorted(OUT_OF_RANGE)))
        low, high = OUT_OF_RANGE[path]
        value = draw(st.integers(*INT64).filter(lambda v: not low <= v <= high))
        return lambda i: _bad(kind, path, _set(broken(i), path, value))
    if kind == "bad_time":
        value = draw(BAD_TIMES)
        return lambda i: _bad(kind, "occurred_at", _set(broken(i), "occurred_at", value))
    if kind == "bad_channel":
        value = draw(BAD_CHANNELS)
        return lambda i: _bad(kind, "channel", _set(broken(i), "channel", value))
    if kind == "deep_nesting":
        depth = draw(st.integers(MAX_NESTING + 1, 400))
        where = draw(st.sampled_from(["attributes", "customer.attributes", "extra"]))
        return lambda i: _bad(kind, "nested deeper", _set(broken(i), where, _nested(depth, 1)))
    if kind == "decoder_depth":
        # past what the JSON decoder itself can nest (RecursionError inside json.loads)
        depth = draw(st.integers(2_000, 40_000))  # the body stays under MAX_BODY_BYTES
        opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
        body = b'{"attributes":' + opener * depth + b"1" + closer * depth + b"}"
        return lambda i: _bad(kind, "invalid JSON", body)
    if kind == "invalid_utf8":
        junk = draw(st.sampled_from(INVALID_UTF8))
        at = draw(st.floats(0, 1))
        label = draw(st.sampled_from(UTF8_LABELS))

        def invalid_utf8(i):
            body = _dumps(broken(i))
            cut = int(len(body) * at)
            return _bad(kind, "not UTF-8", body[:cut] + junk + body[cut:], content_encoding=label)

        return invalid_utf8
    if kind == "surrogate_escape":
        # valid UTF-8 bytes and valid JSON syntax, but "\ud800" is no Unicode character
        where = draw(
            st.sampled_from(
                ["text", "touchpoint", "customer.name", "customer.id", "attributes.note", "extra"]
            )
        )
        surrogate = draw(st.sampled_from(["\ud800", "\udfff", "a\udbffb"]))

        def surrogate_escape(i):
            body = json.dumps(_set(broken(i), where, surrogate), ensure_ascii=True).encode()
            return _bad(kind, where.split(".")[0], body)

        return surrogate_escape
    if kind == "not_json":
        junk = draw(
            st.one_of(
                st.binary(max_size=200),
                st.sampled_from(
                    [
                        b"",
                        b"{not json",
                        b"{'a': 1}",
                        b"NaN",
                        b"[1,]",
                        b"key: value\n",
                        b"<feedback/>",
                        b"\x00",
                    ]
                ),
                st.floats(0, 0.999),  # a strict prefix of a valid body: never a JSON document
            )
        )

        def not_json(i):
            body = junk if isinstance(junk, bytes) else _dumps(broken(i))
            body = body[: int(len(body) * junk)] if isinstance(junk, float) else body
            # b"NaN" or b"7" decode (to a number): then the reason is "not an object";
            # random bytes can even be b"{}", an object missing every field
            decoded = _decoded(body)
            expect = (
                "" if decoded is _NOT_JSON else "schema: " if isinstance(decoded, dict) else "JSON object"
            )
            return _bad(kind, expect, body)

        return not_json
    if kind == "not_object":
        value = draw(json_values().filter(lambda v: not isinstance(v, dict)))
        return lambda i: _bad(kind, "JSON object", _dumps(value))
    if kind == "unstorable_number":
        value = draw(
            st.one_of(
                st.integers(min_value=INT64[1] + 1, max_value=10**40),
                st.integers(max_value=INT64[0] - 1, min_value=-(10**40)),
                st.sampled_from([float("nan"), float("inf"), float("-inf")]),
            )
        )
        where = draw(st.sampled_from(["attributes.n", "customer.attributes.n", "extra", "scores.extra"]))
        return lambda i: _bad(kind, where.split(".")[0], _set(broken(i), where, value))
    if kind == "nul_key":
        key = draw(st.text(TEXT, max_size=5).map(lambda t: t + "\x00"))
        where = draw(st.sampled_from(["attributes", "customer.attributes", "extra"]))
        return lambda i: _bad(kind, "NUL", _set(broken(i), where, {key: 1}))
    if kind == "content_type":
        content_type = draw(st.sampled_from(CONTENT_TYPES))
        # "no content type", or, past the ingest router (which forwards bytes as
        # application/octet-stream), "content type 'application/octet-stream'"
        return lambda i: _bad(kind, "content type", _valid(base, i, nps).body, content_type=content_type)
    if kind == "content_encoding":
        encoding = draw(st.sampled_from(ENCODINGS))
        return lambda i: _bad(kind, "content encoding", _valid(base, i, nps).body, content_encoding=encoding)
    if kind == "compressed":
        method = draw(st.sampled_from(["application/x-gzip", "zlib", "bzip2", "bogus"]))
        garbage = draw(st.booleans())

        def compressed(i):
            body = _valid(base, i, nps).body
            body = b"\x78\x9cgarbage" if garbage else zlib.compress(body)
            return _bad(kind, "compressed", body, headers={"compression": method})

        return compressed
    if kind == "oversize":
        extra = draw(st.integers(1, 64 * 1024))

        def oversize(i):
            event = _valid(base, i, nps)
            padding = "x" * (MAX_BODY_BYTES + extra)
            return _bad(kind, "too large", _set(json.loads(event.body), "attributes.padding", padding))

        return oversize
    if kind == "huge_customer_id":
        # under the size limit, but past what an AMQP header frame holds (the router's partition key)
        length = draw(st.integers(140_000, 200_000))
        return lambda i: _bad(kind, "customer.id", _set(broken(i), "customer.id", "c" * length))
    raise AssertionError(kind)


_NOT_JSON = object()


def _decoded(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _NOT_JSON


def schedule(count: int) -> list[str]:
    """The kind of each case: KINDS' weights, interleaved, in the same order every run."""
    cycle = [kind for _round in range(max(KINDS.values())) for kind, w in KINDS.items() if _round < w]
    return [cycle[i % len(cycle)] for i in range(count)]


def _draw(kind: str, count: int, start_seed: int) -> list[Recipe]:
    drawn: list[Recipe] = []
    round_ = 0
    while len(drawn) < count:

        @seed(start_seed + round_)
        @settings(
            max_examples=count - len(drawn),
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(recipes(kind))
        def collect(recipe):
            drawn.append(recipe)

        collect()
        round_ += 1
    return drawn[:count]


@cache  # the parser test and the broker test read the same cases; drawn once per run
def generate(count: int, start_seed: int = 20261120) -> list[Case]:
    """``count`` cases, reproducible: the same count gives the same cases (treat as read-only)."""
    kinds = schedule(count)
    pools = {kind: _draw(kind, kinds.count(kind), start_seed) for kind in KINDS if kind in kinds}
    return [pools[kind].pop()(index) for index, kind in enumerate(kinds)]
