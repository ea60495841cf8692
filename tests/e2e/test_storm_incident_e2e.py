"""Issue 17's storm end to end, on the real broker and store with two replicas of the
alerts service and two of the cases service: 1,000 matches of one throttled customer
rule. The throttle keeps its few alerts (each a case); the first refused match raises
the period's storm alert, announced once whichever replica meets the storm, and the
cases service opens exactly one incident for it, whose children are the rule's cases;
every other match is refused and counted on the storm alert: cases + suppressed =
1,000, none lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from nameko.standalone.rpc import ClusterRpcClient

from cxctl.main import cli
from services.alerts.service import AlertsService
from services.cases.service import CasesService
from services.common.mongo import database_name
from tests.conftest import wait_until
from tests.e2e.test_group_alerts_e2e import ANNOUNCED, AlertListener
from tests.e2e.test_pipeline import publish

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
MATCHES = 1000
RULE = {
    "id": "charge-storm",
    "name": "乱收费 / Unexpected charges",
    "level": "P2",
    "owner": {"kind": "team", "id": "billing"},
    "channels": ["email"],
    "when": {"field": "tags", "op": "contains_any", "value": ["billing-dispute"]},
    "throttle": {"max_alerts": 5, "per": "1d"},
}


def dispute(n: int) -> dict:
    return {
        "schema_version": 1,
        "event_id": f"dispute-{n}",
        "source": "billing-app",
        "occurred_at": (START + timedelta(seconds=3 * n)).isoformat(),
        "customer": {"id": f"BC{n:04d}"},
        "channel": "app",
        "touchpoint": "billing",
        "tags": ["billing-dispute"],
    }


def test_a_storm_of_1000_matches_opens_one_incident_and_loses_none(
    cx_config, container_factory, mongo_client
):
    ANNOUNCED.clear()
    for cls in (AlertsService, AlertsService, CasesService, CasesService):
        container_factory(cls).start()
    container_factory(AlertListener).start()
    with ClusterRpcClient(timeout=30) as rpc:
        rpc.alerts.create_rule(RULE, actor="ops.lead")
        publish(cx_config["AMQP_URI"], *(dispute(n) for n in range(MATCHES)))
        alerts_db = mongo_client[database_name("alerts")]
        wait_until(
            lambda: alerts_db.feedback_inbox.count_documents({"state": "done"}) == MATCHES,
            timeout=240,
            message="all 1,000 events evaluated",
        )
        [incident] = wait_until(rpc.cases.list_incidents, timeout=60, message="the incident")
        assert incident["group"]["key"] == {"rule": "charge-storm"}
        assert incident["group"]["condition"] == "storm"

        def customer_cases():
            return [c for c in rpc.cases.list_cases(limit=200) if c.get("kind") != "incident"]

        cases = wait_until(
            lambda: len(customer_cases()) == 5 and customer_cases(), timeout=60, message="5 cases"
        )
        wait_until(
            lambda: rpc.cases.list_incidents()[0]["child_counts"]["total"] == 5,
            timeout=60,
            message="the rule's cases linked",
        )
        shown = rpc.cases.get_case(incident["_id"])
        assert {c["_id"] for c in shown["children"]} == {c["_id"] for c in cases}
        assert all(rpc.cases.get_case(c["_id"])["parent"]["_id"] == incident["_id"] for c in cases)
        assert len(shown["alerts"]) == 1  # the storm alert, taken once
        storm_id = incident["alert_id"]
        assert storm_id.startswith("ST-")
        # zero lost: the cases and the matches refused onto the storm alert are every match
        figures = rpc.alerts.storm_counts([storm_id])[storm_id]
        assert figures["suppressed"] == MATCHES - len(cases)
        assert len(shown["children"]) + figures["suppressed"] == MATCHES
        assert figures["matches"] == MATCHES and figures["alerts"] == 5
        assert alerts_db.suppressed.count_documents({"rule_id": "charge-storm"}) == MATCHES - 5
        wait_until(lambda: len(ANNOUNCED) >= 6, message="the announcements")
    storms = [m for m in ANNOUNCED if m["scope"] == "group"]
    assert len(storms) == 1 and storms[0]["alert_id"] == storm_id  # announced once
    assert len(ANNOUNCED) == 6  # the 5 customer alerts and the storm
    output = (
        CliRunner().invoke(cli, ["--amqp-uri", cx_config["AMQP_URI"], "alerts", "explain", storm_id]).output
    )
    assert "storm / 预警风暴:" in output and f"suppressed / 被抑制 {MATCHES - 5}" in output
    assert f"matches / 匹配总数 {MATCHES}" in output
