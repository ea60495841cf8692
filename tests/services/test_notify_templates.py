"""Templates through the notify service: every kind × channel × language renders,
previews show the vendor payload, admin overrides are checked before they are saved."""

import json

import pytest
from nameko.testing.services import worker_factory

from contracts.messages import NOTIFICATION_KINDS
from services.common.errors import BadRequest, NotFound
from services.notify.channels import CHANNELS
from services.notify.channels.email import SmtpConfig
from services.notify.delivery import Policy, default_channels
from services.notify.render import Renderer
from services.notify.samples import SAMPLE_RECIPIENT, SAMPLES
from services.notify.service import NotifyService
from services.notify.store import NotifyStore


@pytest.fixture
def notify(mongo_client, db_prefix):
    store = NotifyStore(mongo_client[f"{db_prefix}notify"])
    store.ensure_indexes()
    return worker_factory(
        NotifyService,
        store=store,
        templates=Renderer(),
        channels=default_channels({"smtp": SmtpConfig(host="127.0.0.1", port=1, sender="cx@example.com")}),
        policy=Policy(),
    )


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("kind", NOTIFICATION_KINDS)
def test_every_kind_renders_on_every_channel_in_both_languages(kind, language):
    renderer = Renderer()
    for name, cls in CHANNELS.items():
        rendered = renderer.render(kind, name, language, SAMPLES[kind], SAMPLE_RECIPIENT, cls.template_format)
        assert not rendered.fallback, (kind, name, language, rendered.error)
        assert rendered.subject and rendered.body.strip() and rendered.text.strip()
        chinese = any(
            "\u4e00" <= ch <= "\u9fff" for ch in rendered.subject.replace("王芳", "").replace("贬损者", "")
        )
        assert chinese == (language == "zh-CN"), rendered.subject  # the frame is in the recipient's language
        if cls.template_format == "slack":
            assert "**" not in rendered.body  # Slack mrkdwn bold is *single*


def test_preview_returns_the_vendor_payload(notify):
    dingtalk = notify.preview("sla_warning", "dingtalk", "en")
    assert dingtalk["title"] == "[SLA P2] NPS 贬损者 · 王芳: 15 min left"
    assert dingtalk["payload"]["markdown"]["text"].startswith("#### [SLA P2]")
    slack = notify.preview("digest", "slack", "zh-CN")
    assert (
        "<http://127.0.0.1:8000/cases/CASE-91B0C44D2A10|CASE-91B0C44D2A10>"
        in slack["payload"]["blocks"][1]["text"]["text"]
    )
    mail = notify.preview(
        "case_assigned", "email", "zh-CN", {**SAMPLES["case_assigned"], "title": "自定义标题"}
    )
    assert "Subject: =?utf-8?" in mail["payload"] and "自定义标题" in mail["title"]
    json.dumps(notify.preview("escalation_step", "feishu", "zh-CN"))  # JSON-safe for the CLI
    with pytest.raises(BadRequest) as info:
        notify.preview("nope", "pager", "fr")
    assert [e.split(":")[0] for e in info.value.errors] == ["kind", "channel", "language"]


def test_a_saved_override_replaces_the_file_and_can_be_deleted(notify):
    assert notify.preview("sla_warning", "email", "en")["title"].startswith("[SLA P2]")  # file cached
    notify.save_template("en/sla_warning.subject.j2", "SLA! {{ case_id }} ({{ level_name }})", by="admin")
    assert notify.preview("sla_warning", "email", "en")["title"] == "SLA! CASE-3F2A9C01B7E4 (high)"
    [row] = [r for r in notify.list_templates() if r["name"] == "en/sla_warning.subject.j2"]
    assert row["overridden"] and row["override"]["version"] == 1 and row["override"]["by"] == "admin"
    assert (row["language"], row["kind"], row["channel"], row["part"]) == (
        "en",
        "sla_warning",
        None,
        "subject",
    )
    notify.delete_template("en/sla_warning.subject.j2")
    assert notify.preview("sla_warning", "email", "en")["title"].startswith("[SLA P2]")
    with pytest.raises(NotFound):
        notify.delete_template("en/sla_warning.subject.j2")


@pytest.mark.parametrize(
    "source,expected",
    [
        ("fine\n{% if level %}\nno end", "Unexpected end of template"),
        ("ok\nstill ok\n{{ level + }}", "line 3: unexpected 'end of print statement'"),
        (
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "line 1: access to '__subclasses__' is not allowed",
        ),
        ("ok\n\n{{ cycler.__init__.__globals__ }}", "line 3: access to '__globals__' is not allowed"),
        ("{{ customer['__class__'] }}", "line 1: access to '__class__' is not allowed"),
        (
            "{% set x = customer.update({'id': 1}) %}",
            "line 1: rendering the sample payload failed: SecurityError",
        ),
        ("a\n{{ nothing_here() }}", "line 2: rendering the sample payload failed: UndefinedError"),
        ("{{ level|no_such_filter }}", "line 1: No filter named 'no_such_filter'."),
    ],
)
def test_a_broken_or_hostile_template_is_rejected_on_save_with_its_line(notify, source, expected):
    with pytest.raises(BadRequest) as info:
        notify.save_template("zh-CN/case_assigned.dingtalk.body.j2", source)
    assert any(expected in e for e in info.value.errors), info.value.errors
    assert notify.list_templates() and not notify.store.template_overrides()  # nothing stored


def test_template_names_are_checked(notify):
    with pytest.raises(BadRequest) as info:
        notify.save_template("../../etc/passwd", "x")
    assert "is not <language>/<kind>" in info.value.errors[0]
