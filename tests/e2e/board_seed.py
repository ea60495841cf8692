"""Cases and feedback the role-board tests read (real producers: the gateway's ingest,
the services' handling, the agents' actions over the API)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import wait_until
from tests.e2e.gateway_stack import feedback

AGENTS = yaml.safe_load((Path(__file__).parents[2] / "samples" / "agents.yaml").read_text(encoding="utf-8"))


def seed(gw):
    """Three detractors (two at delivery, one at billing); one delivery case taken by
    chen.jie and resolved, one taken and at work."""
    gw.rpc.cases.apply_agents(AGENTS)
    events = [
        feedback("b-1", nps=1, customer="C1", text="快递太慢"),
        feedback("b-2", nps=2, customer="C2", text="送货太慢"),
        feedback("b-3", nps=3, customer="C3", text="多扣了钱", touchpoint="billing"),
    ]
    assert gw.api("integration", "POST", "/api/v1/feedback", json=events).status_code == 202
    cases = wait_until(
        lambda: len(gw.rpc.cases.list_cases()) == 3 and gw.rpc.cases.list_cases(), message="3 cases"
    )
    ids = {c["customer"]["id"]: c["_id"] for c in cases}
    for customer in ("C1", "C2"):
        taken = gw.api(
            "agent",
            "POST",
            f"/api/v1/cases/{ids[customer]}/reassign",
            json={"assignee": {"kind": "person", "id": "chen.jie"}, "reason": "mine"},
        )
        assert taken.status_code == 200, taken.text
    gw.api("agent", "POST", f"/api/v1/cases/{ids['C2']}/acknowledge", json={})
    resolved = gw.api(
        "agent",
        "POST",
        f"/api/v1/cases/{ids['C1']}/resolve",
        json={"root_cause": "delivery_delay", "first_contact_resolution": True},
    )
    assert resolved.status_code == 200, resolved.text
    return ids
