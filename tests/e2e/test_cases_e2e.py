"""Cases end to end on the real broker and store: feedback → alert → case, a second
alert attaches, cxctl acknowledges and resolves, status events go out."""

import json

from click.testing import CliRunner
from nameko.events import event_handler

from cxctl.main import cli
from tests.conftest import wait_until
from tests.e2e.test_pipeline import RULES, feedback, publish, stack  # noqa: F401 - the stack fixture

SEEN: list[dict] = []
OPENED: list[dict] = []


class StatusListener:
    name = "status_listener"

    @event_handler("cases", "case_status_changed")
    def seen(self, payload):
        SEEN.append(payload)

    @event_handler("cases", "case_opened")
    def opened(self, payload):
        OPENED.append(payload)


def cx(uri, *args):
    result = CliRunner().invoke(cli, ["--amqp-uri", uri, *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_alert_case_attach_acknowledge_resolve(stack, cx_config, container_factory, smtp_sink):  # noqa: F811
    SEEN.clear()
    OPENED.clear()
    container_factory(StatusListener).start()
    uri = cx_config["AMQP_URI"]
    # A short alert cool-down, so the second match is a new alert (which the case
    # absorbs) rather than a repeat the alerts service attaches to the first alert.
    [rule] = RULES["rules"]
    stack.alerts.apply_rules({"rules": [{**rule, "dedup": {"by": [], "cooldown": "1m"}}]})
    publish(uri, feedback(event_id="lc-1"))
    [case] = wait_until(stack.cases.list_cases, message="the case")
    publish(uri, feedback(event_id="lc-2", nps=1, occurred_at="2026-11-20T11:00:00+08:00"))
    wait_until(lambda: len(stack.cases.get_case(case["_id"])["alerts"]) == 2, message="the attached alert")
    assert len(stack.cases.list_cases()) == 1

    cx(uri, "cases", "ack", case["_id"], "--by", "li.na")
    cx(uri, "cases", "comment", case["_id"], "已电话联系客户", "--by", "li.na")
    out = cx(uri, "cases", "resolve", case["_id"], "--root-cause", "delivery_delay", "--fcr", "--by", "li.na")
    assert "resolved" in out
    failed = CliRunner().invoke(cli, ["--amqp-uri", uri, "cases", "start", case["_id"], "--by", "li.na"])
    assert failed.exit_code != 0 and "cannot start a case in status 'resolved'" in failed.output

    wait_until(lambda: len(SEEN) >= 1, message="status events")
    # the assignment at opening rides on case_opened: one message, no status change of its own
    [opened] = OPENED
    assert opened["status"] == "assigned" and opened["assignment"]["by"] == "system"
    assert opened["assignment"]["assignee"] == {"kind": "person", "id": "li.na"}
    assert [(s["from_status"], s["to_status"]) for s in SEEN] == [("assigned", "resolved")]
    assert SEEN[0]["resolution"]["root_cause"] == "delivery_delay" and SEEN[0]["changed_by"] == "li.na"
    shown = json.loads(cx(uri, "cases", "show", case["_id"], "--json"))
    assert [a["action"] for a in shown["audit"]] == [
        "opened", "assigned", "alert_attached", "acknowledged", "commented", "resolved",
    ]  # fmt: skip
    wait_until(smtp_sink.messages, message="the assignment mail")
    assert len(smtp_sink.messages()) == 1  # the attached alert sent no second mail

    figures = json.loads(cx(uri, "cases", "metrics", "--since", "1h", "--by", "owner", "--json"))
    [mine] = figures["groups"]
    assert mine["key"] == "li.na" and (mine["cases"], mine["acknowledged"], mine["resolved"]) == (1, 1, 1)
    assert mine["fcr_rate"] == 1.0 and mine["reopen_rate"] == 0.0 and mine["mttr_seconds"] > 0
    table = cx(uri, "cases", "metrics", "--since", "30d", "--by", "owner")
    assert "li.na" in table and "100%" in table and "FCR" in table
    bad = CliRunner().invoke(cli, ["--amqp-uri", uri, "cases", "metrics", "--since", "last week"])
    assert bad.exit_code != 0 and "since: Not a valid datetime." in bad.output


def test_cxctl_simulate_explains_without_writing(stack, cx_config, tmp_path):  # noqa: F811
    from services.common.mongo import jsonable
    from tests.services.test_cases import alert

    uri = cx_config["AMQP_URI"]
    payload = tmp_path / "alert.json"
    payload.write_text(json.dumps(jsonable({"schema_version": 1, **alert(1)})), encoding="utf-8")
    out = cx(uri, "cases", "simulate", str(payload))
    assert "action: open  case: (new)" in out and "owner: person li.na" in out
    assert "notify person li.na: case_assigned via email" in out
    assert stack.cases.list_cases() == []  # a dry run


def test_cxctl_agents_apply_list_and_shift(stack, cx_config):  # noqa: F811
    from tests.unit.test_assignment import SAMPLE

    uri = cx_config["AMQP_URI"]
    assert "agents: 6" in cx(uri, "cases", "agents", "apply", str(SAMPLE))
    assert "li.na  off shift" in cx(uri, "cases", "agents", "shift", "li.na", "off")
    listed = cx(uri, "cases", "agents", "list")
    assert "李娜" in listed and "sun.yu" in listed
    bad = CliRunner().invoke(
        cli, ["--amqp-uri", uri, "cases", "agents", "apply", "-"], input="teams: []\nagents: [{id: a}]\n"
    )
    assert bad.exit_code != 0 and "agents.0.name: Missing data for required field." in bad.output


def test_cxctl_sla_policy_applies_to_new_cases(stack, cx_config):  # noqa: F811
    from pathlib import Path

    uri = cx_config["AMQP_URI"]
    sample = Path(__file__).resolve().parents[2] / "samples" / "sla.yaml"
    assert "SLA policy default v1 saved" in cx(uri, "cases", "sla", "apply", str(sample))
    assert "P1: acknowledge 15 min" in cx(uri, "cases", "sla", "show")
    publish(uri, feedback(event_id="sla-1"))
    [case] = wait_until(stack.cases.list_cases, message="the case")
    shown = cx(uri, "cases", "show", case["_id"])
    assert "SLA acknowledge: 20" in shown and "SLA state: " in shown
    assert "re-applied to 1 open cases" in cx(
        uri, "cases", "sla", "apply", str(sample), "--apply-to-open-cases"
    )


def test_cxctl_escalation_policy_apply_show_and_reject(stack, cx_config):  # noqa: F811
    from pathlib import Path

    uri = cx_config["AMQP_URI"]
    sample = Path(__file__).resolve().parents[2] / "samples" / "escalation.yaml"
    assert "escalation policy default v1 saved" in cx(uri, "cases", "escalation", "apply", str(sample))
    assert "P1: 10 min → owner, 20 min → team_lead" in cx(uri, "cases", "escalation", "show")
    bad = CliRunner().invoke(
        cli,
        ["--amqp-uri", uri, "cases", "escalation", "apply", "-"],
        input="levels: {P1: {steps: [{after_minutes: 9, notify: owner},\n"
        "                     {after_minutes: 1, notify: owner}]}}\n",
    )
    assert bad.exit_code != 0 and "levels.P1.steps.1.after_minutes: can never be reached" in bad.output


def test_agent_loads_are_recounted_when_the_service_starts(cx_config, runner_factory, mongo_client):
    from services.cases.service import CasesService
    from tests.e2e.test_pipeline import db_of

    db = db_of(mongo_client, "cases")
    db.agent_load.insert_one({"_id": "ghost", "load": 7})  # left by a worker that died
    runner_factory(CasesService).start()
    wait_until(lambda: db.agent_load.find_one({"_id": "ghost"})["load"] == 0, message="the recount at start")
