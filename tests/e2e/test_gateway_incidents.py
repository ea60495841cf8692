"""Incidents over the HTTP API (real broker and store): owners list them with their
children's counts and resolve one with its children; agents may not; bad bodies are
refused naming the field."""

from nameko.standalone.events import event_dispatcher

from tests.conftest import wait_until
from tests.e2e.gateway_stack import gateway  # noqa: F401 - the fixture
from tests.services.group_alerts import customer_alert, group_alert


def test_owners_list_incidents_and_resolve_one_with_its_children(gateway):  # noqa: F811
    dispatch = event_dispatcher()
    for n in (1, 2, 3):
        dispatch("alerts", "alert_raised", customer_alert(n, wire=True))
    dispatch("alerts", "alert_raised", customer_alert(4, store="BJ-007", wire=True))
    wait_until(lambda: len(gateway.rpc.cases.list_cases()) == 4, message="4 cases")
    dispatch("alerts", "alert_raised", group_alert(50, wire=True))
    wait_until(lambda: gateway.rpc.cases.list_incidents(), message="the incident")
    [incident] = gateway.rpc.cases.list_incidents()
    path = f"/api/v1/incidents/{incident['_id']}/resolve"

    assert gateway.api("agent", "GET", "/api/v1/incidents").status_code == 403
    listed = gateway.api("owner", "GET", "/api/v1/incidents?status=active")
    assert listed.status_code == 200, listed.text
    [row] = listed.json()["items"]
    assert row["_id"] == incident["_id"] and row["child_counts"]["total"] == 3
    shown = gateway.api("owner", "GET", f"/api/v1/cases/{incident['_id']}").json()
    assert shown["kind"] == "incident" and len(shown["children"]) == 3

    assert gateway.api("agent", "POST", path, json={"root_cause": "other"}).status_code == 403
    missing = gateway.api("owner", "POST", path, json={"resolve_children": True})
    assert missing.status_code == 400 and "body.root_cause" in missing.text
    unknown = gateway.api("owner", "POST", path, json={"root_cause": "weather"})
    assert unknown.status_code == 422 and "root_cause" in unknown.text
    child = shown["children"][0]["_id"]
    not_one = gateway.api("owner", "POST", f"/api/v1/incidents/{child}/resolve", json={"root_cause": "other"})
    assert not_one.status_code == 422 and "is not an incident" in not_one.text
    assert (
        gateway.api(
            "owner", "POST", "/api/v1/incidents/CASE-NONE/resolve", json={"root_cause": "other"}
        ).status_code
        == 404
    )

    done = gateway.api(
        "owner",
        "POST",
        path,
        json={"root_cause": "other", "summary": "门店加开收银台", "resolve_children": True},
    )
    assert done.status_code == 200, done.text
    assert len(done.json()["children"]["resolved"]) == 3
    for kid in shown["children"]:
        case = gateway.rpc.cases.get_case(kid["_id"])
        assert case["status"] == "resolved" and case["audit"][-1]["actor"] == "zhao.min"
    assert gateway.api("owner", "GET", "/api/v1/incidents?status=active").json()["items"] == []
