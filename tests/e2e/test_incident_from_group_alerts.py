"""Issue 17's end-to-end case, from the real producers on both sides: two replicas of the
alerts service and two of the cases service; a store's NPS collapses over 50 events while
another store stays healthy. The group rule raises one group alert, the cases service
opens exactly one incident for it, and every customer case of the collapsing store (the
detractor rule's cases, opened before and after the incident) is linked to it, once;
the healthy store's cases are not."""

from __future__ import annotations

from nameko.standalone.rpc import ClusterRpcClient

from services.alerts.service import AlertsService
from services.cases.service import CasesService
from services.common.mongo import database_name
from tests.conftest import wait_until
from tests.e2e.test_group_alerts_e2e import RULE, visit
from tests.e2e.test_pipeline import publish

DETRACTOR = {
    "id": "store-detractor",
    "name": "门店贬损者 / Store detractor",
    "level": "P3",
    "owner": {"kind": "team", "id": "store-ops"},
    "channels": ["email"],
    "when": {"field": "scores.nps", "op": "lte", "value": 6},
}


def test_a_store_collapse_opens_one_incident_linking_its_cases_across_two_replicas_each(
    cx_config, container_factory, mongo_client
):
    for cls in (AlertsService, AlertsService, CasesService, CasesService):
        container_factory(cls).start()
    with ClusterRpcClient(timeout=15) as rpc:
        rpc.alerts.create_rule(RULE, actor="ops.lead")
        rpc.alerts.create_rule(DETRACTOR, actor="ops.lead")
        collapsing = [visit(n, "SH-01", 2 if n % 3 else 7) for n in range(50)]
        healthy = [visit(n, "SH-02", 10 if n % 3 else 6) for n in range(30)]
        publish(
            cx_config["AMQP_URI"],
            *(e for pair in zip(collapsing, healthy + [None] * 20, strict=True) for e in pair if e),
        )
        alerts_db = mongo_client[database_name("alerts")]
        wait_until(
            lambda: alerts_db.feedback_inbox.count_documents({"state": "done"}) == 80,
            timeout=120,
            message="all 80 events evaluated",
        )
        detractors_sh01 = sum(1 for e in collapsing if e["scores"]["nps"] <= 6)
        detractors_sh02 = sum(1 for e in healthy if e["scores"]["nps"] <= 6)

        def settled():
            cases = [c for c in rpc.cases.list_cases(limit=200) if c.get("kind") != "incident"]
            return len(cases) == detractors_sh01 + detractors_sh02 and cases

        cases = wait_until(settled, timeout=60, message="every detractor's case")
        [incident] = wait_until(lambda: rpc.cases.list_incidents(), timeout=30, message="the incident")
        assert incident["group"]["key"] == {"attributes.store": "SH-01"}
        wait_until(
            lambda: rpc.cases.list_incidents()[0]["child_counts"]["total"] == detractors_sh01,
            timeout=30,
            message="every SH-01 case linked",
        )
        cases = [c for c in rpc.cases.list_cases(limit=200) if c.get("kind") != "incident"]
        for case in cases:
            store = case["event"]["attributes"]["store"]
            assert case.get("parent_id") == (incident["_id"] if store == "SH-01" else None), case["_id"]
        assert len(rpc.cases.list_incidents()) == 1  # once, however many events and replicas
        shown = rpc.cases.get_case(incident["_id"])
        assert len(shown["children"]) == detractors_sh01 and len(shown["alerts"]) == 1
