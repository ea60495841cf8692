"""Cases as the intake builds them (sample SLA and escalation policies), for the tests
of the cases service's pure decisions: no store, no broker."""

from datetime import UTC, datetime
from pathlib import Path

import yaml

from services.cases import escalation, sla
from services.cases.lifecycle import assignee_key, new_case

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
MONDAY_10 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai: the office is open
SATURDAY_10 = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # Saturday: the office is closed
NEXT_MONDAY_9 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # when it opens again
LI_NA = {"kind": "person", "id": "li.na"}


def _policy(name: str, load):
    return load(yaml.safe_load((SAMPLES / name).read_text(encoding="utf-8")))


def alert(level: str = "P2", owner: dict | None = None, n: int = 1) -> dict:
    return {
        "alert_id": f"AL-C{n}-detractor-{n}",
        "raised_at": MONDAY_10,
        "level": level,
        "rule": {"id": "detractor", "version": 1, "name": "NPS 贬损者"},
        "owner": owner or LI_NA,
        "channels": ["email"],
        "customer": {"id": f"C{n}", "name": "张三"},
        "event": {"source": "app", "event_id": f"e{n}", "channel": "app", "touchpoint": "delivery"},
        "trace": [],
    }


def case(
    level: str = "P2", *, opened: datetime = MONDAY_10, assignee: dict | None = LI_NA, with_sla: bool = True
) -> dict:
    """A case opened at ``opened`` with the sample policies' snapshots, owned by ``assignee``."""
    found = new_case(alert(level), opened, "C1\x1frule=detractor")
    terms = sla.terms_for(_policy("sla.yaml", sla.load_policy), 1, level, None)
    found.update(
        team="cx-care",
        sla=sla.open_sla(terms, opened) if with_sla else None,
        escalation=escalation.snapshot(_policy("escalation.yaml", escalation.load_policy), 1, level),
    )
    if assignee:
        found.update(status="assigned", rev=1, assignee=assignee, assignee_key=assignee_key(assignee))
    return found
