"""Pure parts of the security controls: masking, redaction, RPC argument rules, key
rules, token buckets. The end-to-end proofs are in tests/security/."""

from __future__ import annotations

import logging

import pytest

from contracts.base import key_errors
from services.common.errors import BadRequest
from services.common.privacy import MaskingFilter, mask, redact, register_secret, url_secrets
from services.common.rpc import Id, Moment, check_arguments, parameter_rules
from services.gateway.throttle import TokenBuckets


@pytest.mark.parametrize(
    "text, shown",
    [
        ("13800138000", "138****8000"),
        ("请回电13912345678谢谢", "请回电139****5678谢谢"),
        ("+86 138-0013-8000", "+86 138****8000"),
        ("008613800138000", "0086138****8000"),
        ("138 0013 8000", "138****8000"),
        ("tel: +44 20 7946 0958.", "tel: +** ** **** 0958."),
        ("mail wang.fang@example.com now", "mail w***@example.com now"),
        ("邮件li.lei@example.org", "邮件l***@example.org"),
        (r'"text": "\u8bf7\u56de13912345678"', r'"text": "\u8bf7\u56de139****5678"'),
        (r'"\u5230wang@x.com"', r'"\u5230w***@x.com"'),
    ],
)
def test_phones_and_addresses_are_masked(text, shown):
    assert mask(text) == shown
    assert mask(shown) == shown  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20T10:00:00+08:00",
        "event C13800138000 at 1732345678901",  # an id, an epoch in ms
        "case CASE-20261120-0001, 12 alerts, rev 3",
        "P1 > 1000 events/s",
    ],
)
def test_ordinary_numbers_are_left_alone(text):
    assert mask(text) == text


def test_secrets_and_credential_shapes_are_redacted():
    register_secret("s3cr3t-registered")
    text = (
        "login s3cr3t-registered; mongodb://cx:pw-in-uri@h1:27017,h2/db; "
        "https://oapi.dingtalk.com/robot/send?access_token=abcdef&timestamp=1&sign=zzz; "
        'Authorization: Bearer cxt_0123456789abcdef; {"password": "hunter22"}'
    )
    out = redact(text)
    for secret in ("s3cr3t-registered", "pw-in-uri", "abcdef", "zzz", "0123456789abcdef", "hunter22"):
        assert secret not in out
    assert "timestamp=1" in out and "mongodb://cx:***@h1" in out
    link = "GET https://cx.example.com/survey/eyJjIjoiQ0FTRS0xIn0.c2lnbmF0dXJl?lang=en 200"
    assert redact(link) == "GET https://cx.example.com/survey/***?lang=en 200"  # a survey link's token
    hook = "https://hooks.slack.com/services/T0/B0/tokenpart?x=1"
    assert redact(f"failed: {hook}", url_secrets(hook)) == "failed: ***"


def test_the_filter_masks_message_arguments_and_tracebacks():
    try:
        raise ValueError("no such user wang.fang@example.com")
    except ValueError as exc:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "call %s", ("13800138000",), (type(exc), exc, None)
        )
    MaskingFilter().filter(record)
    assert record.getMessage() == "call 138****8000"
    assert "w***@example.com" in record.exc_text and "wang.fang" not in record.exc_text


def test_key_rules_name_the_path():
    assert key_errors({"a": [{"$gt": 1}], "b.c": 1, "ok": {"x": "$fine as a value"}}) == [
        "a.0.$gt: keys must not start with '$' or contain '.' or NUL",
        "b.c: keys must not start with '$' or contain '.' or NUL",
    ]
    deep: dict = {}
    for _ in range(40):
        deep = {"k": deep}
    assert key_errors(deep)[0].endswith("nested deeper than 32 levels")


def _method(
    self, case_id: Id, status: Id | None = None, limit: int = 1, when: Moment | None = None, doc: dict = None
):
    """A stand-in RPC method."""


def test_rpc_arguments_are_checked_by_their_annotations():
    rules = parameter_rules(_method)
    check_arguments(rules, {"case_id": "CASE-1", "status": None, "limit": 2, "doc": {"a": [1]}})
    cases = {
        "case_id: must be an id, not an object": {"case_id": {"$ne": None}},
        "case_id: must not start with '$'": {"case_id": "$where"},
        "status: must be an id or null, not an object": {"status": {"$gt": ""}},
        "limit: must be an integer, not a boolean": {"limit": True},
        "doc.q.$where: keys must not start with '$'": {"doc": {"q": {"$where": "1"}}},
        "doc.a.b: keys must not contain '.'": {"doc": {"a.b": 1}},
    }
    for message, arguments in cases.items():
        with pytest.raises(BadRequest) as refused:
            check_arguments(rules, {"case_id": "C", **arguments})
        assert refused.value.errors == [message]

    def untyped(self, rule):
        """No annotation: refused when the service starts."""

    with pytest.raises(TypeError, match="parameter 'rule' has no type annotation"):
        parameter_rules(untyped)


def test_token_buckets_refill_at_the_rate_and_tell_the_wait():
    now = [0.0]
    buckets = TokenBuckets(clock=lambda: now[0])
    assert [buckets.take("a", 60, 3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 60, 3) == pytest.approx(1.0)
    assert buckets.take("b", 60, 3) == 0.0  # another client
    now[0] = 0.5
    assert buckets.take("a", 60, 3) == pytest.approx(0.5)
    now[0] = 1.0
    assert buckets.take("a", 60, 3) == 0.0
    assert buckets.take("a", 0, 3) == 0.0  # 0: no limit
