"""samples/rules.yaml over samples/feedback.jsonl gives believable alerts (dry run), and
the people directory is valid, its projections are the deprecated per-service files
(agents, recipients), and the rules name owners it defines."""

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

from contracts.feedback import parse_feedback
from services.alerts.dryrun import dry_run
from services.alerts.engine import Engine
from services.alerts.memory import MemoryState
from services.alerts.rules import load_rules
from services.cases import people as cases_people
from services.cases.assignment import load_directory as load_agents
from services.common.errors import BadRequest
from services.notify import people as notify_people
from services.notify.directory import load_directory as load_recipients

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def sample_rules():
    return [
        dict(r, version=1)
        for r in load_rules(yaml.safe_load((ROOT / "samples/rules.yaml").read_text("utf-8")))
    ]


def sample_events():
    lines = (ROOT / "samples/feedback.jsonl").read_text("utf-8").splitlines()
    return sorted((parse_feedback(line) for line in lines), key=lambda e: e["occurred_at"])


@lru_cache(maxsize=1)
def raised_by_rule():
    engine = Engine(MemoryState())
    rules = sample_rules()
    raised: dict[str, list[dict]] = {}
    for event in sample_events():
        for outcome in engine.process(rules, event, NOW):
            if outcome.outcome == "raised":
                raised.setdefault(outcome.rule_id, []).append(event)
    return raised


def test_the_demo_stream_raises_believable_alerts():
    raised = raised_by_rule()
    repeat = {e["customer"]["id"] for e in raised["repeat-complainer"]}
    assert {"C10023", "C10047", "C10068"} <= repeat and "C10082" not in repeat  # C10082 is a near miss
    drops = {e["customer"]["id"] for e in raised["nps-sharp-drop"]}
    assert {"C10005", "C10031"} <= drops
    texts = [e.get("text", "") for e in raised["refund-or-complaint"]]
    assert texts and not any("不是投诉" in t or "No complaints" in t for t in texts)
    # the group rule: the touchpoints whose week turned negative, once per episode (a share
    # hovering around one half closes and opens an episode again, at most a few times)
    turned = [e["touchpoint"] for e in raised["touchpoint-negative-share"]]
    assert set(turned) == {"after_sales", "installation", "repair"}
    assert max(turned.count(t) for t in set(turned)) <= 3


def test_dry_run_report_matches_the_engine_and_counts_bad_lines():
    lines = (ROOT / "samples/feedback.jsonl").read_text("utf-8").splitlines() + ["{oops", ""]
    ticks = []
    report = dry_run(sample_rules(), lines, NOW, progress=ticks.append)
    assert report["events"] == 400 and len(ticks) == 402
    assert report["invalid"] == [{"line": 401, "reason": report["invalid"][0]["reason"]}]
    raised = raised_by_rule()
    for rule_id, r in report["rules"].items():
        assert r["raised"] == len(raised.get(rule_id, []))
        assert sum(r["customers"].values()) == r["raised"]
        assert len(r["examples"]) == min(5, r["raised"])


def test_cxctl_rules_test_on_files_needs_no_broker(tmp_path):
    import json

    from click.testing import CliRunner

    from cxctl.main import cli

    result = CliRunner().invoke(
        cli,
        [
            "rules",
            "test",
            str(ROOT / "samples/rules.yaml"),
            "--events",
            str(ROOT / "samples/feedback.jsonl"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{") :])
    assert report["events"] == 400 and report["rules"]["repeat-complainer"]["raised"] == len(
        raised_by_rule()["repeat-complainer"]
    )
    one = tmp_path / "one.yaml"
    one.write_text(
        yaml.safe_dump(yaml.safe_load((ROOT / "samples/rules.yaml").read_text("utf-8"))["rules"][0])
    )
    result = CliRunner().invoke(
        cli, ["rules", "test", str(one), "--events", str(ROOT / "samples/feedback.jsonl")]
    )
    assert (
        result.exit_code == 0 and "nps-detractor: would raise" in result.output and "将产生" in result.output
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nname: x\nlevel: P1\n")
    result = CliRunner().invoke(
        cli, ["rules", "test", str(bad), "--events", str(ROOT / "samples/feedback.jsonl")]
    )
    assert result.exit_code == 1 and "规则无效" in result.output and "rules.0.owner" in result.output


def sample(name):
    return yaml.safe_load((ROOT / "samples" / name).read_text("utf-8"))


def people_directory():
    return cases_people.load(sample("people.yaml"))  # the owner's whole check


def test_the_deprecated_agents_file_is_the_people_directorys_projection():
    assert load_agents(sample("agents.yaml")) == cases_people.agents_directory(people_directory())


def test_every_person_is_a_recipient_and_the_deprecated_file_lags_behind_nobody():
    projected = notify_people.recipients(people_directory())
    legacy = load_recipients(sample("recipients.yaml"))
    assert {p["id"] for p in projected["people"]} == {p["id"] for p in people_directory()["people"]}
    emails = {p["id"]: p.get("email") for p in projected["people"]}
    assert {p["id"]: p.get("email") for p in legacy["people"]} == {
        k: v for k, v in emails.items() if v is not None
    }
    members = {t["id"]: t["members"] for t in projected["teams"]}
    # cx-care has five people: every one of them is told of the team's cases
    assert members["cx-care"] == ["chen.jie", "emma.wu", "li.na", "sun.yu", "wang.lei"]
    for team in legacy["teams"]:
        assert set(team["members"]) <= set(members[team["id"]]), team["id"]


def test_whoever_a_case_can_be_assigned_to_is_reachable():
    directory = people_directory()
    agents = cases_people.agents_directory(directory)
    reachable = {p["id"] for p in notify_people.recipients(directory)["people"] if p.get("email")}
    assert {a["id"] for a in agents["agents"]} <= reachable
    assert {t["lead"] for t in agents["teams"]} <= reachable


def test_the_sample_rules_name_owners_of_the_sample_directory():
    agents = cases_people.agents_directory(people_directory())
    known = {
        *(("person", a["id"]) for a in agents["agents"]),
        *(("team", t["id"]) for t in agents["teams"]),
        *(("strategy", s["id"]) for s in agents["strategies"]),
    }
    owners = {(r["owner"]["kind"], r["owner"]["id"]) for r in sample_rules()}
    assert owners - known == set()


def test_the_commented_im_example_in_people_yaml_is_valid():
    text = (ROOT / "samples/people.yaml").read_text("utf-8")
    block = "\n".join(
        line.replace("  #   ", "  ", 1) for line in text.splitlines() if line.startswith("  #   ")
    )
    directory = sample("people.yaml")
    directory["people"].append(yaml.safe_load(block)[0])
    robot = {"webhook": "https://oapi.dingtalk.com/robot/send?access_token=abc", "secret": "SECabcdefgh"}
    directory["teams"][0]["channels"] = {"dingtalk": robot}
    recipients = notify_people.recipients(cases_people.load(directory))
    he_ping = next(p for p in recipients["people"] if p["id"] == "he.ping")
    assert he_ping["handles"]["dingtalk"] == {"user_id": "heping01", "mobile": "13800000000"}
    assert he_ping["digest"]["channels"] == ["dingtalk"]
    directory["teams"][0]["channels"] = {}  # without the team's robot a mention reaches nobody
    with pytest.raises(BadRequest) as refused:
        cases_people.load(directory)
    assert refused.value.errors[0].startswith("people.7.channels: he.ping can be assigned cases")
