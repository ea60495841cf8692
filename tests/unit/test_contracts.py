import json
from pathlib import Path

import jsonschema
import pytest

from contracts import export
from contracts.feedback import InvalidFeedback, dump_feedback, parse_feedback
from contracts.messages import MESSAGES
from services.common.messaging import ContractViolation, serialize

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def event(**overrides):
    base = {
        "schema_version": 1,
        "event_id": "e-1",
        "source": "survey-app",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "customer": {"id": "C1", "name": "张三", "attributes": {"region": "华东"}},
        "channel": "wechat",
        "touchpoint": "delivery",
        "scores": {"nps": 3, "csat": 2, "ces": 6},
        "text": "送货太慢",
        "tags": ["投诉"],
    }
    base.update(overrides)
    return base


def test_valid_event_is_normalised_to_utc_and_keeps_unknown_fields():
    parsed = parse_feedback(json.dumps(event(campaign="双11", customer={"id": "C1", "x": 1})))
    assert parsed["occurred_at"].isoformat() == "2026-11-20T02:00:00+00:00"
    assert parsed["campaign"] == "双11"
    assert parsed["customer"] == {"id": "C1", "x": 1}


def test_nulls_mean_absent():
    parsed = parse_feedback(event(text=None, scores={"nps": None, "csat": 4}))
    assert "text" not in parsed
    assert parsed["scores"] == {"csat": 4}


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (json.dumps([1, 2]), "must be a JSON object"),
        (json.dumps(event(schema_version=2)), "schema_version: unsupported schema_version 2"),
        (json.dumps({k: v for k, v in event().items() if k != "event_id"}), "event_id: Missing"),
        (json.dumps(event(scores={"nps": 11})), "scores.nps"),
        (json.dumps(event(scores={"nps": True})), "scores.nps"),
        (json.dumps(event(scores={"csat": "4"})), "scores.csat"),
        (json.dumps(event(occurred_at="2026-11-20T10:00:00")), "occurred_at"),
        (json.dumps(event(text="好" * 10_001)), "text"),
        (json.dumps(event(event_id="x" * 129)), "event_id"),
        (json.dumps(event(channel="We Chat")), "channel"),
        (json.dumps(event(customer={"name": "no id"})), "customer.id: Missing"),
    ],
)
def test_invalid_events_name_the_reason(body, reason):
    with pytest.raises(InvalidFeedback) as info:
        parse_feedback(body)
    assert reason in info.value.reason


def test_dump_roundtrip():
    parsed = parse_feedback(event())
    assert parse_feedback(dump_feedback(parsed)) == parsed


def test_checked_in_json_schema_and_asyncapi_are_current():
    assert export.stale_files() == [], "run: python -m contracts.export"


def test_json_schema_agrees_with_marshmallow_on_the_sample_streams():
    schema = json.loads((export.JSONSCHEMA_DIR / "feedback_event.v1.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    lines = (SAMPLES / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 300
    for line in lines:
        parse_feedback(line)
        validator.validate(json.loads(line))
    rejected = 0
    for line in (SAMPLES / "malformed.jsonl").read_text(encoding="utf-8").splitlines():
        with pytest.raises(InvalidFeedback):
            parse_feedback(line)
        try:
            body = json.loads(line)
        except json.JSONDecodeError:
            rejected += 1
            continue
        rejected += not validator.is_valid(body)
    # occurred_at without offset is a marshmallow-only check ("date-time" format
    # allows it under some checkers); every other malformed line fails both.
    assert rejected >= 5


def test_every_message_has_a_schema_file_and_an_asyncapi_channel():
    asyncapi = export.build_asyncapi()
    for name, spec in MESSAGES.items():
        assert (export.JSONSCHEMA_DIR / f"{name}.v{spec.schema.SCHEMA_VERSION}.json").exists()
        assert f"{spec.exchange}/{name}" in asyncapi["channels"]
    assert "cx.feedback/feedback.{channel}" in asyncapi["channels"]


def test_dispatch_refuses_a_message_that_breaks_its_contract():
    with pytest.raises(ContractViolation, match="case_id"):
        serialize("case_assigned", {"assignee": {"kind": "person", "id": "a"}})
