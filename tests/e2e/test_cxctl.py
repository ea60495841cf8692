"""cxctl against the running services (real broker, store and SMTP)."""

import json

from click.testing import CliRunner

from cxctl.main import cli
from cxctl.publish import routing_key_for
from tests.conftest import wait_until
from tests.e2e.test_pipeline import feedback, stack  # noqa: F401 - the stack fixture


def run(amqp_uri, *args, input=None):
    result = CliRunner().invoke(cli, ["--amqp-uri", amqp_uri, *args], input=input)
    return result.exit_code, result.output


def test_routing_key_follows_the_channel():
    assert routing_key_for(b'{"channel": "wechat"}') == "feedback.wechat"
    assert routing_key_for(b"{broken") == "feedback.unknown"
    assert routing_key_for(b'{"channel": "a.b#"}') == "feedback.unknown"


def test_cxctl_publish_then_read_everything_back(stack, cx_config, smtp_sink, tmp_path):  # noqa: F811
    uri = cx_config["AMQP_URI"]
    days = {1: "2026-11-20", 9: "2026-11-21"}  # distinct times: the nps 9 event is the latest
    lines = "\n".join(
        json.dumps(feedback(event_id=f"cli-{n}", nps=n, occurred_at=f"{day}T10:00:00+08:00"))
        for n, day in days.items()
    )
    code, out = run(uri, "publish", "-", "--no-progress", input=lines + "\n")
    assert code == 0 and "published 2 events" in out
    wait_until(smtp_sink.messages, message="the email")

    code, out = run(uri, "alerts", "list", "--json")
    [alert] = json.loads(out)
    assert alert["event"]["event_id"] == "cli-1"
    code, out = run(uri, "cases", "list")
    assert code == 0 and "li.na" in out and "NPS 贬损者" in out
    case_id = json.loads(run(uri, "cases", "list", "--json")[1])[0]["_id"]
    code, out = run(uri, "cases", "show", case_id)
    assert "✓ scores.nps lte 6 (actual 1)" in out and "assigned  by system" in out

    def profile_has_both():
        code, out = run(uri, "profile", "show", "C42", "--json")
        p = json.loads(out) if code == 0 else {}
        latest = p.get("latest", {}).get("nps", {}).get("event_id")
        return p if p.get("feedback_count") == 2 and latest == "cli-9" else None

    # both events counted, and the later one's score is the latest
    profile = wait_until(profile_has_both, message="both events in the profile")
    assert profile["latest"]["nps"]["value"] == 9
    code, out = run(uri, "profile", "show", "C42")
    assert "王芳" in out and "feedback: 2" in out
    code, out = run(uri, "stats", "--json")
    assert json.loads(out)["alerts"]["by_level"] == {"P2": 1}


def test_cxctl_reports_bad_input_by_field(stack, cx_config, tmp_path):  # noqa: F811
    uri = cx_config["AMQP_URI"]
    bad_rules = tmp_path / "rules.yaml"
    bad_rules.write_text("rules:\n  - id: Bad Id\n    name: x\n    level: P9\n", encoding="utf-8")
    code, out = run(uri, "rules", "apply", str(bad_rules))
    assert code == 1
    assert "rules.0.id:" in out and "rules.0.level:" in out and "rules.0.when:" in out
    code, out = run(uri, "publish", "-", "--check", input='{"schema_version": 1}\n{oops\n')
    assert code == 1 and "line 1: schema:" in out and "line 2: invalid JSON" in out
    assert "nothing published" in out
    code, out = run(uri, "cases", "show", "CASE-NOPE")
    assert code == 1 and "NotFound" in out
