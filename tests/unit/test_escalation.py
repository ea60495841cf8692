"""Escalation policies as data: validation (unreachable steps), snapshots, rounds."""

from pathlib import Path

import pytest
import yaml

from services.cases import escalation
from services.common.errors import BadRequest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "escalation.yaml"


def sample():
    return escalation.load_policy(yaml.safe_load(SAMPLE.read_text(encoding="utf-8")))


def test_the_sample_has_four_step_chains_and_snapshots_per_level():
    snap = escalation.snapshot(sample(), 3, "P1")
    assert [s["notify"] for s in snap["steps"]] == ["owner", "team_lead", "department_head", "on_call"]
    assert snap["version"] == 3 and snap["repeat"] == 2 and snap["department_head"] == "zhao.min"
    assert escalation.snapshot(sample(), 1, "P4") is None


def test_unreachable_or_incomplete_steps_are_rejected_on_save():
    with pytest.raises(BadRequest) as info:
        escalation.load_policy(
            {
                "levels": {
                    "P1": {
                        "steps": [
                            {"after_minutes": 30, "notify": "owner"},
                            {"after_minutes": 10, "notify": "team_lead"},
                            {"after_minutes": 40, "notify": "on_call"},
                            {"after_minutes": 50, "notify": "department_head"},
                        ]
                    }
                }
            }
        )
    assert set(info.value.errors) == {
        "levels.P1.steps.1.after_minutes: can never be reached in order: "
        "10.0 min comes before step 0 at 30.0 min",
        "levels.P1.steps.2.group: on_call needs the group to notify",
        "levels.P1.steps.3.notify: no department_head is configured",
    }


def test_rounds_are_due_after_their_start_with_stable_ids():
    snap = escalation.snapshot(sample(), 2, "P1")
    steps = escalation.round_steps("CASE-1:o0", "CASE-1", snap, 1, 1000.0)
    assert [s["due_epoch"] for s in steps] == [1600.0, 2200.0, 3400.0, 4600.0]
    assert steps[0]["_id"] == "CASE-1:o0:esc:v2:r1:s0" and steps[-1]["last_of_round"]


def test_what_stops_an_escalation():
    ack = {"stop_on": "acknowledge"}
    res = {"stop_on": "resolve"}
    assert escalation.stops(ack, "acknowledge") and escalation.stops(ack, "start")
    assert not escalation.stops(res, "acknowledge") and escalation.stops(res, "resolve")
    assert not escalation.stops(None, "resolve")
    case = {"status": "assigned", "acknowledged": {"by": "x"}, "escalation": ack}
    assert not escalation.still_escalating(case)
    assert escalation.still_escalating({**case, "escalation": res})
    assert not escalation.still_escalating({**case, "status": "resolved", "escalation": res})


def test_recipients():
    snap = escalation.snapshot(sample(), 1, "P1")
    case = {"assignee": {"kind": "person", "id": "li.na"}}
    steps = snap["steps"]
    assert escalation.recipient(steps[0], case, snap, "wang.lei") == {"kind": "person", "id": "li.na"}
    assert escalation.recipient(steps[1], case, snap, "wang.lei") == {"kind": "person", "id": "wang.lei"}
    assert escalation.recipient(steps[1], case, snap, None) is None
    assert escalation.recipient(steps[2], case, snap, None) == {"kind": "person", "id": "zhao.min"}
    assert escalation.recipient(steps[3], case, snap, None) == {"kind": "team", "id": "cx-care"}
