"""alerts.simulate / cxctl simulate end to end (real broker and store): what would
happen to one event, through cases and notify, with no side effects anywhere."""

import json

from click.testing import CliRunner
from nameko.standalone.rpc import ClusterRpcClient

from cxctl.main import cli
from services.alerts.service import AlertsService
from tests.conftest import wait_until
from tests.e2e.test_pipeline import RULES, db_of, feedback, publish, stack  # noqa: F401 - the stack fixture

SERVICES = ("alerts", "cases", "profiles", "notify")


def counts(mongo_client):
    return {
        (service, name): db_of(mongo_client, service)[name].count_documents({})
        for service in SERVICES
        for name in db_of(mongo_client, service).list_collection_names()
    }


def test_simulate_a_new_alert_then_a_repeat_without_side_effects(
    stack,  # noqa: F811
    cx_config,
    mongo_client,
    smtp_sink,
    tmp_path,  # noqa: F811
):
    before = counts(mongo_client)
    result = stack.alerts.simulate(feedback(), "2026-11-20T03:00:00+00:00")
    assert result["rules"] == {"enabled": 1, "evaluated": 1}
    [match] = result["matches"]
    assert match["rule"] == {"id": "nps-detractor", "version": 1, "name": "NPS 贬损者"}
    assert match["level"] == "P2" and match["would"] == "create"
    assert match["dedup_key"] == "nps-detractor|customer.id=C42"
    assert match["tree"]["result"] is True and match["tree"]["children"][0]["actual"] == 2
    case = match["cases"]
    assert case["action"] == "open" and case["assignee"] == {"kind": "person", "id": "li.na"}
    assert case["sla"] is None or "resolve_due" in case["sla"]
    [notification] = match["notifications"]
    assert notification["request"]["recipient"] == {"kind": "person", "id": "li.na"}
    [email] = notification["rendered"]  # notify.simulate: per recipient × channel
    assert email["recipient"]["id"] == "li.na" and email["channel"] == "email"
    assert "NPS 贬损者" in email["subject"] and "快递三天都没到" in email["body"]
    assert counts(mongo_client) == before and smtp_sink.messages() == []

    uri = cx_config["AMQP_URI"]
    publish(uri, feedback())
    [alert] = wait_until(stack.alerts.list_alerts, message="the live alert")
    wait_until(stack.cases.list_cases, message="the case")
    repeat = stack.alerts.simulate(feedback(event_id="ev-2", occurred_at="2026-11-20T12:00:00+08:00"))
    [match] = repeat["matches"]
    assert match["would"] == "attach" and match["alert_id"] == alert["_id"] and "cases" not in match

    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps(feedback(event_id="ev-3", customer={"id": "C77"})), encoding="utf-8")
    out = CliRunner().invoke(cli, ["--amqp-uri", uri, "simulate", str(event_file)]).output
    assert "1 of 1 enabled rules match" in out and "would / 将: create" in out, out
    assert "nps-detractor|customer.id=C77" in out and "✓ scores.nps lte 6" in out
    assert "cases / 工单: open" in out and "notify / 通知: case_assigned → person:li.na via email" in out
    assert '"subject": "【P2·高】NPS 贬损者' in out
    bad = CliRunner().invoke(
        cli, ["--amqp-uri", uri, "simulate", str(tmp_path / "event.json"), "--now", "soon"]
    )
    assert bad.exit_code != 0 and "now: must be" in bad.output


def test_simulate_degrades_when_cases_is_not_running(cx_config, runner_factory):
    runner_factory(AlertsService).start()
    with ClusterRpcClient(timeout=15) as rpc:
        rpc.alerts.apply_rules(RULES)
        [match] = rpc.alerts.simulate(feedback())["matches"]
        assert match["would"] == "create"
        assert match["cases"] == {"error": "cases did not answer (not running)"}
        assert match["notifications"] == []


def test_simulate_degrades_when_notify_is_not_running(cx_config, runner_factory):
    from services.cases.service import CasesService

    runner_factory(AlertsService, CasesService).start()
    with ClusterRpcClient(timeout=15) as rpc:
        rpc.alerts.apply_rules(RULES)
        [match] = rpc.alerts.simulate(feedback())["matches"]
        assert match["cases"]["action"] == "open"
        [notification] = match["notifications"]
        assert notification["error"] == "notify did not answer (not running)"
        assert notification["request"]["kind"] == "case_assigned"
