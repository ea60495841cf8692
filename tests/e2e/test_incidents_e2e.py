"""Incidents end to end on the real broker and store, with two replicas of the cases
service: a group alert (delivered twice, with two more group alerts on the same store,
amid a burst of customer alerts) opens one incident; the customer cases of its store
attach (those open before it and those that open after), others do not;
``cxctl cases incidents resolve --children`` resolves them all, each with its audit
entry and its ``case_status_changed``."""

import json

from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcClient

from services.cases.service import CasesService
from tests.conftest import wait_until
from tests.e2e.test_cases_e2e import OPENED, SEEN, StatusListener, cx
from tests.services.group_alerts import customer_alert, group_alert


def test_one_incident_across_two_replicas_links_its_cases_and_resolves_them(cx_config, container_factory):
    SEEN.clear()
    OPENED.clear()
    container_factory(StatusListener).start()
    for _ in range(2):
        container_factory(CasesService).start()
    uri = cx_config["AMQP_URI"]
    dispatch = event_dispatcher()
    # before the incident: 6 customer cases at store SH-021, 3 at BJ-007
    for n in range(1, 10):
        dispatch(
            "alerts", "alert_raised", customer_alert(n, store="SH-021" if n <= 6 else "BJ-007", wire=True)
        )
    with ClusterRpcClient(timeout=15) as rpc:
        wait_until(lambda: len(rpc.cases.list_cases(limit=100)) == 9, timeout=60, message="9 cases")
        # the group alert twice (a redelivery), amid more customer alerts of both stores
        tipping = group_alert(50, wire=True)
        for n in range(10, 20):
            dispatch(
                "alerts", "alert_raised", customer_alert(n, store="SH-021" if n % 2 else "BJ-007", wire=True)
            )
            if n in (12, 16):
                dispatch("alerts", "alert_raised", tipping)
                # a second group alert on the same store at once (another alert id): the
                # open key keeps one incident, whichever replica takes which
                dispatch("alerts", "alert_raised", group_alert(51 + n, wire=True))
        wait_until(
            lambda: len(rpc.cases.list_cases(limit=100)) == 20, timeout=60, message="19 cases + 1 incident"
        )
        [incident] = rpc.cases.list_incidents()
        wait_until(lambda: len(rpc.cases.get_case(incident["_id"])["alerts"]) == 3, message="3 group alerts")
        sh = {
            c["_id"] for c in rpc.cases.list_cases(limit=100) if c["event"]["attributes"]["store"] == "SH-021"
        }
        bj = {
            c["_id"] for c in rpc.cases.list_cases(limit=100) if c["event"]["attributes"]["store"] == "BJ-007"
        }
        sh.discard(incident["_id"])
        assert len(sh) == 11 and len(bj) == 8

        def children():
            return {c["_id"] for c in rpc.cases.get_case(incident["_id"])["children"]}

        wait_until(lambda: children() == sh, timeout=30, message="every SH-021 case linked")
        shown = rpc.cases.get_case(incident["_id"])
        assert shown["child_counts"]["total"] == 11
        assert all(rpc.cases.get_case(cid).get("parent_id") is None for cid in bj)
        # the incident is nobody's customer case
        assert incident["_id"] not in {m["case_id"] for m in OPENED}

        listed = cx(uri, "cases", "incidents", "list")
        assert incident["_id"] in listed and "11 (11 active)" in listed
        out = cx(uri, "cases", "incidents", "resolve", incident["_id"], "--root-cause", "service_attitude",
                 "--summary", "门店加开收银台", "--children", "--by", "zhao.min")  # fmt: skip
        assert "children resolved: 11" in out
        for cid in sh:
            child = rpc.cases.get_case(cid)
            assert child["status"] == "resolved" and child["resolution"]["summary"] == "门店加开收银台"
            assert [a["actor"] for a in child["audit"] if a["action"] == "resolved"] == ["zhao.min"]
        assert all(rpc.cases.get_case(cid)["status"] == "assigned" for cid in bj)
        wait_until(lambda: len(SEEN) >= 11, message="the children's status messages")
        assert sorted(m["case_id"] for m in SEEN) == sorted(sh)
        assert {(m["from_status"], m["to_status"], m["changed_by"]) for m in SEEN} == {
            ("assigned", "resolved", "zhao.min")
        }
        again = json.loads(cx(uri, "cases", "incidents", "resolve", incident["_id"], "--root-cause",
                              "service_attitude", "--children", "--by", "zhao.min", "--json"))  # fmt: skip
        assert again["children"] == {"resolved": [], "already": [], "failed": []}
        shown = cx(uri, "cases", "incidents", "show", incident["_id"])
        assert "children: 11 (0 active)" in shown and "attributes.store=SH-021" in shown
        child = cx(uri, "cases", "show", sorted(sh)[0])
        assert f"incident: {incident['_id']}  门店 NPS 骤降 · attributes.store=SH-021" in child
