"""The template editor's RPCs on the notify service (real store, real SMTP sink): a
draft previewed through the real renderer, its errors and unknown fields with their
lines; saved as versions with who and why, reverted; test-sent to the admin's own
address through the pipeline, marked as a test, refused without a destination or past
the per-user limit, failed when the relay is down."""

from __future__ import annotations

import pytest
from nameko.testing.services import worker_factory

from contracts.base import utcnow
from services.common.errors import BadRequest
from services.notify.channels.email import SmtpConfig
from services.notify.delivery import Policy, default_channels
from services.notify.render import Renderer
from services.notify.service import NotifyService
from services.notify.store import NotifyStore
from tests.conftest import wait_until

DIRECTORY = {
    "people": [
        {"id": "root", "name": "Admin", "email": "root@example.com", "language": "zh-CN"},
        {"id": "no.mail", "name": "No Mail", "handles": {"wecom": {"user_id": "nm"}}},
    ],
    "teams": [],
}
SUBJECT = "en/alert_raised.subject.j2"


def service(mongo_client, db_prefix, port: int) -> NotifyService:
    store = NotifyStore(mongo_client[f"{db_prefix}notify"])
    store.ensure_indexes()
    notify = worker_factory(
        NotifyService,
        store=store,
        templates=Renderer(),
        channels=default_channels({"smtp": SmtpConfig(host="127.0.0.1", port=port, sender="cx@example.com")}),
        policy=Policy(fallback={"wecom": "email"}),
    )
    notify.apply_recipients(DIRECTORY)
    return notify


@pytest.fixture
def notify(mongo_client, db_prefix, smtp_sink):
    return service(mongo_client, db_prefix, smtp_sink.port)


def test_a_draft_is_previewed_with_the_real_renderer_and_its_problems_name_line_and_field(notify):
    draft = "Alert {{ alert_id }} on {{ rule.name }}\n{{ customer.nmae }} {{ event.scores.nps }}"
    result = notify.preview_template("en/alert_raised.txt.j2", draft)
    assert result["channel"] == "email" and result["errors"] == [] and result["uses_template"] is True
    assert result["unknown_fields"] == ["line 2: customer.nmae"]
    assert result["rendering"]["text"].startswith("Alert AL-7D1E22C0 on NPS 贬损者\n 2")
    md = notify.preview_template("zh-CN/alert_raised.md.j2", "**{{ title }}** {{ nope }}")
    assert md["channel"] == "dingtalk" and md["unknown_fields"] == ["line 1: nope"]
    assert "**NPS 贬损者 · 王芳**" in md["rendering"]["payload"]["markdown"]["text"]
    broken = notify.preview_template(SUBJECT, "ok\n{{ level + }}")
    assert broken["rendering"] is None and broken["errors"] == ["line 2: unexpected 'end of print statement'"]
    unknown_filter = notify.preview_template(SUBJECT, "a\n{{ level|nope }}")
    assert unknown_filter["errors"] == ["line 2: No filter named 'nope'."]
    failing = notify.preview_template(SUBJECT, "a\n{{ title.nope() }}")
    assert failing["errors"][0].startswith("line 2: rendering the sample payload failed: UndefinedError")
    assert (
        notify.preview_template(SUBJECT, "x", "slack")["uses_template"] is True
    )  # every channel has a subject
    assert notify.preview_template("en/alert_raised.html.j2", "<p>x</p>", "slack")["uses_template"] is False
    with pytest.raises(BadRequest) as info:
        notify.preview_template("en/followup_survey.txt.j2", "x")
    assert info.value.errors[0].startswith("name: ")
    with pytest.raises(BadRequest) as info:
        notify.preview_template(SUBJECT, "x", "pager")
    assert info.value.errors[0].startswith("channel: one of dingtalk, email")
    assert not notify.store.template_overrides() and not list(notify.store.db.deliveries.find())


def test_saves_are_versions_with_who_and_why_and_a_revert_is_one_too(notify):
    first = notify.save_template(SUBJECT, "[{{ level }}] {{ title }}", by="root", reason="shorter")
    assert (first["version"], first["by"], first["reason"], first["action"]) == (
        1,
        "root",
        "shorter",
        "saved",
    )
    assert notify.save_template(SUBJECT, "[{{ level }}] {{ title }}!", by="li.na")["version"] == 2
    with pytest.raises(BadRequest) as info:
        notify.save_template(SUBJECT, "{{ level|nope }}", by="root")
    assert info.value.errors == ["source: line 1: No filter named 'nope'."]
    shown = notify.get_template(SUBJECT)
    assert shown["source"].endswith("!") and shown["shipped"].startswith("[") and shown["overridden"]
    assert [(v["version"], v["by"]) for v in shown["versions"]] == [(2, "li.na"), (1, "root")]
    reverted = notify.delete_template(SUBJECT, by="root", reason="back")
    assert (reverted["version"], reverted["action"]) == (3, "reverted")
    shown = notify.get_template(SUBJECT)
    assert shown["source"] == shown["shipped"] and not shown["overridden"]
    assert shown["override"]["version"] == 3 and shown["override"]["reason"] == "back"
    assert notify.save_template(SUBJECT, "again {{ title }}", by="root")["version"] == 4


def test_an_override_saved_before_versions_were_kept_is_version_0(notify):
    name = "en/sla_warning.subject.j2"
    notify.store.db.templates.insert_one(
        {"_id": name, "source": "old {{ level }}", "by": "ops", "saved_at": utcnow()}
    )
    [row] = [r for r in notify.list_templates() if r["name"] == name]
    assert row["overridden"] and (row["override"]["version"], row["override"]["by"]) == (0, "ops")
    assert notify.save_template(name, "new {{ level }}", by="root")["version"] == 1


def test_a_test_send_mails_the_draft_to_the_admin_marked_as_a_test(notify, smtp_sink):
    draft = "Draft {{ alert_id }} {{ level_name }}"
    sent = notify.send_template_test(SUBJECT, draft, None, "root")
    assert (sent["outcome"], sent["channel"], sent["reason"]) == ("sent", "email", None)
    [mail] = wait_until(smtp_sink.messages, message="the test mail")
    assert mail["To"] == "root@example.com"
    assert mail["Subject"] == "[测试 TEST] Draft AL-7D1E22C0 high"  # the draft's language, not root's zh-CN
    assert not notify.store.template_overrides()  # nothing saved
    delivery = notify.store.get_delivery(sent["delivery_id"])
    assert delivery["context"]["test"] == {"template": SUBJECT, "by": "root"} and delivery["case_id"] is None

    refused = notify.send_template_test(SUBJECT, draft, "wecom", "root")
    assert (refused["outcome"], refused["reason"]) == ("refused", "no_destination")
    assert notify.send_template_test(SUBJECT, draft, None, "nobody")["reason"] == "no_destination"
    for _ in range(2):  # the burst is 3
        assert notify.send_template_test(SUBJECT, draft, None, "root")["outcome"] == "sent"
    limited = notify.send_template_test(SUBJECT, draft, None, "root")
    assert (limited["outcome"], limited["reason"]) == ("refused", "rate_limited") and limited[
        "retry_after"
    ] > 0
    assert len(wait_until(lambda: len(smtp_sink.messages()) == 3 and smtp_sink.messages())) == 3
    with pytest.raises(BadRequest) as info:
        notify.send_template_test(SUBJECT, "{{ x.__class__ }}", None, "root")
    assert info.value.errors == ["source: line 1: access to '__class__' is not allowed"]


def test_a_test_send_that_the_relay_refuses_fails_at_once_with_the_error(mongo_client, db_prefix):
    notify = service(mongo_client, db_prefix, 1)  # nothing listens on port 1
    failed = notify.send_template_test(SUBJECT, "x {{ title }}", "email", "root")
    assert (failed["outcome"], failed["reason"]) == ("failed", "send_failed") and failed["detail"]
    delivery = notify.store.get_delivery(failed["delivery_id"])
    assert delivery["status"] == "failed" and delivery["attempts"] == 1  # one attempt, no retry
    assert notify.store.db.deliveries.count_documents({}) == 1  # and no fallback
