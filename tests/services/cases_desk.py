"""A cases worker on a real store with the sample agents, SLA and escalation policies."""

import yaml
from nameko.testing.services import worker_factory

from services.cases.service import CasesService
from services.cases.store import CaseStore
from tests.services.test_cases import ESCALATION_SAMPLE, SLA_SAMPLE, Clock
from tests.unit.test_assignment import SAMPLE as AGENTS_SAMPLE


def make_desk(db, at, escalation=True):
    store = CaseStore(db)
    store.ensure_indexes()
    worker = worker_factory(CasesService, store=store)
    worker.now = Clock(at)
    worker.apply_agents(yaml.safe_load(AGENTS_SAMPLE.read_text(encoding="utf-8")))
    worker.apply_sla_policy(yaml.safe_load(SLA_SAMPLE.read_text(encoding="utf-8")))
    if escalation:
        worker.apply_escalation_policy(yaml.safe_load(ESCALATION_SAMPLE.read_text(encoding="utf-8")))
    return worker
