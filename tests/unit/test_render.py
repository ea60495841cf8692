import pytest

from services.notify.channels.email import build_message, message_id
from services.notify.render import Renderer, language_for

CONTEXT = {
    "case_id": "CASE-1",
    "case_url": "http://console/cases/CASE-1",
    "title": "NPS 贬损者 · 张三",
    "level": "P2",
    "status": "assigned",
    "rule": {"id": "r", "version": 3, "name": "NPS 贬损者"},
    "customer": {"id": "C1", "name": "张三", "tier": "vip"},
    "event": {
        "channel": "wechat",
        "touchpoint": "delivery",
        "scores": {"nps": 2},
        "occurred_at": "2026-11-20T02:00:00+00:00",
        "text": "<b>送货</b>太慢",
    },
    "trace": [{"field": "scores.nps", "op": "lte", "value": 6, "actual": 2, "result": True}],
    "assignee": {"kind": "person", "id": "li.na"},
    "opened_at": "2026-11-20T02:00:01+00:00",
}
RECIPIENT = {"id": "li.na", "name": "李娜", "timezone": "Asia/Shanghai"}


def test_optional_fields_render_empty():
    context = dict(
        CONTEXT, customer={"id": "C1"}, event={"channel": "app", "occurred_at": "2026-11-20T02:00:00Z"}
    )
    rendered = Renderer().render("case_assigned", "email", "en", context, RECIPIENT)
    assert not rendered.fallback and "Customer: C1\n" in rendered.text


def test_language_preference():
    assert language_for("en-US") == "en" and language_for("zh") == "zh-CN"
    assert language_for(None) == "zh-CN"


def test_renders_in_both_languages_with_local_time():
    zh = Renderer().render("case_assigned", "email", "zh-CN", CONTEXT, RECIPIENT)
    en = Renderer().render("case_assigned", "email", "en", CONTEXT, RECIPIENT)
    assert not zh.fallback and not en.fallback
    assert zh.subject == "【P2·高】NPS 贬损者 · 张三"
    assert en.subject == "[P2 high] NPS 贬损者 · 张三"
    assert "李娜，您好" in zh.text and "2026-11-20 10:00 (Asia/Shanghai)" in zh.text
    assert "Hello 李娜" in en.text and "Open the case: http://console/cases/CASE-1" in en.text
    # HTML escapes the customer's words; plain text keeps them verbatim
    assert "&lt;b&gt;送货&lt;/b&gt;" in zh.html and "<b>送货</b>" in zh.text


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% set x = event.update({'a': 1}) %}{{ x }}",
        "{{ missing_variable() }}",
        "{% for %}",
    ],
)
def test_hostile_or_broken_templates_fall_back_instead_of_running(tmp_path, source):
    folder = tmp_path / "en"
    folder.mkdir()
    (folder / "case_assigned.email.subject.j2").write_text(source)
    (folder / "case_assigned.email.txt.j2").write_text("body")
    rendered = Renderer(tmp_path).render("case_assigned", "email", "en", CONTEXT, RECIPIENT)
    assert rendered.fallback and rendered.error
    assert "CASE-1" in rendered.text or "NPS" in rendered.text
    assert rendered.subject == "[P2] NPS 贬损者 · 张三"


def test_email_message_has_both_parts_and_thread_headers():
    rendered = Renderer().render("case_assigned", "email", "zh-CN", CONTEXT, RECIPIENT)
    msg = build_message(
        rendered,
        sender="CX <cx@example.com>",
        to="li.na@example.com",
        delivery_id="n1|email|person:li.na",
        case_id="CASE-1",
        language="zh-CN",
    )
    assert msg["Message-ID"] == message_id("n1|email|person:li.na")
    assert msg["References"] == "<case-CASE-1@cx-alerts.local>"
    assert msg["Content-Language"] == "zh-CN"
    assert msg.get_body(("plain",)).get_content().startswith("李娜，您好")
    assert "<table" in msg.get_body(("html",)).get_content()


def test_customer_text_cannot_inject_markdown_links_or_mentions():
    hostile = dict(CONTEXT, event=dict(CONTEXT["event"], text="[点我](http://evil) <@all> **急**\n# 标题"))
    md = Renderer().render("case_assigned", "dingtalk", "zh-CN", hostile, RECIPIENT, "md").body
    assert r"> \[点我\]\(http://evil\) \<@all\> \*\*急\*\* \# 标题" in md
    slack = Renderer().render("case_assigned", "slack", "en", hostile, RECIPIENT, "slack").body
    assert "&lt;@all&gt;" in slack and "<@all>" not in slack
