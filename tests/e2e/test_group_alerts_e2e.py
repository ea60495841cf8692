"""Group alerts end to end on the real broker and store: two replicas of the alerts
service share the feedback; a store's NPS collapsing over 50 events raises exactly one
group alert (``scope: group``), announced once on ``alert_raised``, counted exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from nameko.standalone.rpc import ClusterRpcClient

from cxctl.main import cli
from services.alerts.service import AlertsService
from services.common.messaging import contract_event_handler
from services.common.mongo import database_name
from tests.conftest import wait_until
from tests.e2e.test_pipeline import publish

START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
RULE = {
    "id": "store-nps-collapse",
    "name": "门店 NPS 崩塌 / Store NPS collapse",
    "level": "P1",
    "owner": {"kind": "team", "id": "store-ops"},
    "channels": ["email"],
    "when": {"field": "touchpoint", "op": "eq", "value": "in_store"},
    "group": {
        "by": ["attributes.store"],
        "window": "1h",
        "score_below": {"score": "nps", "below": 0, "min_responses": 20},
    },
}
ANNOUNCED: list[dict] = []


class AlertListener:
    """Records every alert_raised the alerts replicas publish."""

    name = "group_alert_listener"

    @contract_event_handler("alerts", "alert_raised")
    def on_alert(self, alert: dict) -> None:
        ANNOUNCED.append(alert)


def visit(n: int, store: str, nps: int) -> dict:
    return {
        "schema_version": 1,
        "event_id": f"visit-{store}-{n}",
        "source": "pos-survey",
        "occurred_at": (START + timedelta(seconds=40 * n)).isoformat(),
        "customer": {"id": f"SC{store}{n:03d}"},
        "channel": "app",
        "touchpoint": "in_store",
        "scores": {"nps": nps},
        "attributes": {"store": store, "region": "华东"},
    }


def test_a_store_nps_collapse_raises_one_group_alert_across_two_replicas(
    cx_config, container_factory, mongo_client
):
    ANNOUNCED.clear()
    replicas = [container_factory(AlertsService) for _ in range(2)]
    for replica in replicas:
        replica.start()
    container_factory(AlertListener).start()
    with ClusterRpcClient(timeout=15) as rpc:
        rpc.alerts.create_rule(RULE, actor="ops.lead")
        # SH-01 collapses (2 in 3 detractors, no promoters); SH-02 stays healthy
        events = [visit(n, "SH-01", 2 if n % 3 else 7) for n in range(50)]
        events += [visit(n, "SH-02", 10 if n % 3 else 6) for n in range(30)]
        publish(cx_config["AMQP_URI"], *events)
        db = mongo_client[database_name("alerts")]
        wait_until(
            lambda: db.feedback_inbox.count_documents({"state": "done"}) == 80,
            timeout=120,
            message="all 80 events evaluated",
        )
        [alert] = rpc.alerts.list_alerts()
        assert alert["scope"] == "group"
        assert alert["group"]["by"] == ["attributes.store"]
        assert alert["group"]["key"] == {"attributes.store": "SH-01"}
        assert alert["group"]["condition"] == "score_below" and alert["group"]["window"] == "1h"
        observed = alert["group"]["observed"]
        assert observed["count"] >= 20 and observed["value"] < 0
        assert alert["event"]["attributes"] == {"store": "SH-01", "region": "华东"}
        assert alert["dedup"]["key"] == "store-nps-collapse|group|attributes.store=SH-01"
        # the later matches of the episode attached to it, each once
        assert alert["count"] == db.alerts.find_one()["count"] >= 25
        # the counters are exact: 50 SH-01 responses in its buckets, whichever replica counted them
        buckets = list(db.group_buckets.find({"group": "attributes.store=SH-01"}))
        assert sum(b["n"] for b in buckets) == 50
        # announced once, as the contract reads it
        wait_until(lambda: ANNOUNCED, message="alert_raised")
        explained = rpc.alerts.explain_alert(alert["_id"])
    assert len(ANNOUNCED) == 1  # validated against AlertRaisedV1 by the handler
    [message] = ANNOUNCED
    assert message["alert_id"] == alert["_id"] and message["scope"] == "group"
    assert message["group"]["key"] == {"attributes.store": "SH-01"}
    assert message["event"]["attributes"]["store"] == "SH-01"
    group_leaf = explained["tree"]["children"][1]
    assert group_leaf["result"] is True and group_leaf["actual"]["threshold"] == 0
    # cxctl alerts explain prints the group, what was observed and the tree
    output = (
        CliRunner()
        .invoke(cli, ["--amqp-uri", cx_config["AMQP_URI"], "alerts", "explain", alert["_id"]])
        .output
    )
    assert "group / 分组: attributes.store=SH-01   score_below over / 窗口 1h   score: nps, count: " in output
    assert "✓ ALL" in output and "  ✓ touchpoint eq in_store   actual: in_store" in output
    assert (
        "  ✓ group score_below {min_responses: 20, score: nps, below: 0} by [attributes.store] over 1h"
        in output
    )
