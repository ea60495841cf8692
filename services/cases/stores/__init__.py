"""The cases service's stores, one per aggregate, all over the service's one database;
``services/cases/store.py`` composes them into ``CaseStore``:

- ``cases.py``: cases and their open keys (intake, transitions, reads);
- ``loads.py``: agent loads and round-robin turns (the strategies' picks);
- ``schedule.py``: the escalation schedule (due steps) and the SLA warnings sent;
- ``trail.py``: the audit trail and comments;
- ``policies.py``: the agents directory and the SLA and escalation policies (cached);
- ``playbooks.py``: the playbook library (versions, cached) and each use on a case.
"""

from __future__ import annotations

from datetime import datetime

CAS_ATTEMPTS = 20  # how often a conditional update is retried on a concurrent change


def epoch(moment: datetime) -> float:
    return moment.timestamp()
