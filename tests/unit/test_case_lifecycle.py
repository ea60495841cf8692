"""The case lifecycle table: every action from every status, allowed or rejected."""

import pytest

from contracts.messages import CASE_STATUSES
from services.cases.lifecycle import TRANSITIONS, InvalidTransition, next_status, open_key
from services.common.errors import BadRequest

ALLOWED = {
    ("assign", "open"): "assigned",
    ("assign", "assigned"): "assigned",
    ("assign", "in_progress"): "in_progress",
    ("assign", "pending_customer"): "pending_customer",
    ("assign", "reopened"): "reopened",
    ("acknowledge", "assigned"): "assigned",
    ("acknowledge", "reopened"): "reopened",
    ("start", "assigned"): "in_progress",
    ("start", "reopened"): "in_progress",
    ("pending_customer", "in_progress"): "pending_customer",
    ("resume", "pending_customer"): "in_progress",
    ("resolve", "assigned"): "resolved",
    ("resolve", "in_progress"): "resolved",
    ("resolve", "pending_customer"): "resolved",
    ("resolve", "reopened"): "resolved",
    ("reopen", "resolved"): "reopened",
    ("close", "resolved"): "closed",
    # a satisfied follow-up answer verifies a resolved case; a verified case may still be
    # reopened (an unhappy answer to an agent later) or closed
    ("verify", "resolved"): "verified",
    ("reopen", "verified"): "reopened",
    ("close", "verified"): "closed",
    **{("reapply_sla", s): s for s in ("open", "assigned", "in_progress", "pending_customer", "reopened")},
    **{
        ("reapply_escalation", s): s
        for s in ("open", "assigned", "in_progress", "pending_customer", "reopened")
    },
}
EVERY = [(a, s) for a in TRANSITIONS for s in CASE_STATUSES]


@pytest.mark.parametrize("action,status", [p for p in EVERY if p in ALLOWED])
def test_allowed_transition(action, status):
    assert next_status(action, status) == ALLOWED[(action, status)]


@pytest.mark.parametrize("action,status", [p for p in EVERY if p not in ALLOWED])
def test_rejected_transition_names_from_and_to(action, status):
    with pytest.raises(InvalidTransition) as info:
        next_status(action, status)
    message = str(info.value)
    assert message.startswith("status: ") and f"'{status}'" in message
    assert f"invalid transition {status} → " in message
    assert isinstance(info.value, BadRequest)


def test_the_table_is_exactly_what_the_tests_list():
    table = {(a, s): t for a, moves in TRANSITIONS.items() for s, t in moves.items()}
    assert table == ALLOWED
    with pytest.raises(BadRequest, match="action: unknown action"):
        next_status("explode", "open")


def test_open_key_is_customer_plus_the_configured_topic():
    alert = {
        "customer": {"id": "C1"},
        "rule": {"id": "r1"},
        "level": "P2",
        "event": {"channel": "app", "touchpoint": "delivery"},
    }
    assert open_key(alert) == "C1\x1frule=r1"
    assert open_key(alert, ("touchpoint",)) == "C1\x1ftouchpoint=delivery"
    with pytest.raises(BadRequest, match="open_key: unknown topic"):
        open_key(alert, ("weather",))
