"""The notification templates over the HTTP API and the console's forms (real broker,
store, notify and SMTP): admins list, read, preview, save, revert and test-send; a bad
template is a 400 naming the field and the line; agents and owners get 403."""

from __future__ import annotations

from nameko import config

from tests.conftest import wait_until
from tests.e2e.gateway_stack import csrf_of, gateway  # noqa: F401 - the fixture
from tests.e2e.template_people import ROOT_EMAIL, save_directory_with_root

PATH = "/api/v1/templates/en/alert_raised.subject.j2"


def test_admins_edit_templates_over_the_api_and_others_are_refused(gateway, smtp_sink):  # noqa: F811
    listed = gateway.api("admin", "GET", "/api/v1/templates").json()["items"]
    [row] = [r for r in listed if r["name"] == "en/alert_raised.subject.j2"]
    assert (row["kind"], row["part"], row["language"], row["overridden"]) == (
        "alert_raised",
        "subject",
        "en",
        False,
    )
    for role in ("agent", "owner"):
        assert gateway.api(role, "GET", "/api/v1/templates").status_code == 403
        assert gateway.api(role, "PUT", PATH, json={"source": "x"}).status_code == 403
        assert gateway.api(role, "POST", PATH + "/test", json={"source": "x"}).status_code == 403

    bad = gateway.api("admin", "PUT", PATH, json={"source": "ok\n{{ level|nope }}", "reason": "try"})
    assert bad.status_code == 400
    assert bad.json()["error"]["errors"] == [
        {"field": "source", "message": "line 2: No filter named 'nope'."}
    ]
    missing = gateway.api("admin", "PUT", PATH, json={"reason": "try"})
    assert missing.status_code == 400 and missing.json()["error"]["errors"][0]["field"] == "body.source"
    assert gateway.api("admin", "GET", "/api/v1/templates/fr/alert_raised.subject.j2").status_code == 400
    assert gateway.api("admin", "GET", "/api/v1/templates/en/nothing.subject.j2").status_code == 404

    preview = gateway.api(
        "admin", "POST", PATH + "/preview", json={"source": "{{ level }} {{ custmer.name }}"}
    )
    assert preview.status_code == 200
    body = preview.json()
    assert body["rendering"]["title"] == "P2" and body["unknown_fields"] == ["line 1: custmer"]

    saved = gateway.api(
        "admin", "PUT", PATH, json={"source": "[{{ level }}] {{ title }}", "reason": "shorter"}
    )
    assert saved.status_code == 200 and (saved.json()["version"], saved.json()["by"]) == (1, "root")
    shown = gateway.api("admin", "GET", PATH).json()
    assert shown["overridden"] and shown["override"]["reason"] == "shorter" and "email" in shown["channels"]
    assert gateway.api("admin", "POST", PATH + "/revert", json={}).status_code == 400  # why is required
    reverted = gateway.api("admin", "POST", PATH + "/revert", json={"reason": "back"})
    assert reverted.status_code == 200 and reverted.json()["version"] == 2
    assert gateway.api("admin", "POST", PATH + "/revert", json={"reason": "again"}).status_code == 404

    nowhere = gateway.api("admin", "POST", PATH + "/test", json={"source": "T {{ alert_id }}"})
    assert (
        nowhere.status_code == 200 and nowhere.json()["reason"] == "no_destination"
    )  # root not in the directory
    save_directory_with_root(gateway)
    with config.patch({"NOTIFY_TEMPLATE_TEST_BURST": 1}):  # read by notify per call
        sent = gateway.api("admin", "POST", PATH + "/test", json={"source": "T {{ alert_id }}"})
        assert sent.status_code == 200 and sent.json()["outcome"] == "sent", sent.text
        again = gateway.api("admin", "POST", PATH + "/test", json={"source": "T {{ alert_id }}"})
        assert again.status_code == 429 and int(again.headers["Retry-After"]) > 0
    [mail] = wait_until(
        lambda: [m for m in smtp_sink.messages() if m["To"] == ROOT_EMAIL], message="the test"
    )
    assert mail["Subject"] == "[测试 TEST] T AL-7D1E22C0"


def test_the_editor_page_names_the_field_and_keeps_the_draft(gateway):  # noqa: F811
    agent = gateway.login("agent")
    assert agent.get(gateway.url + "/templates", allow_redirects=False).status_code == 403
    admin = gateway.login("admin")
    page = admin.get(gateway.url + "/templates")
    assert (
        page.status_code == 200
        and "en/alert_raised.subject.j2" in page.text
        and 'id="nav-templates"' in page.text
    )
    editor = admin.get(gateway.url + "/templates/en/alert_raised.subject.j2")
    csrf = csrf_of(editor.text)
    form = {"csrf_token": csrf, "source": "{{ level|nope }} draft", "reason": "x"}
    refused = admin.post(
        gateway.url + "/templates/en/alert_raised.subject.j2", data=form, allow_redirects=False
    )
    assert refused.status_code == 400 and "template source</code>: line 1: No filter named" in refused.text
    assert "{{ level|nope }} draft" in refused.text  # the draft stays in the editor
    test = admin.post(gateway.url + "/templates/en/alert_raised.subject.j2/test", data=form)
    assert test.status_code == 400 and "{{ level|nope }} draft" in test.text  # checked as a save would be
    form["source"] = "{{ level }} test"
    test = admin.post(gateway.url + "/templates/en/alert_raised.subject.j2/test", data=form)
    assert (
        "Test message refused: you have no destination on this channel" in test.text
    )  # root: in no directory
    form["source"] = "{{ level }} saved"
    done = admin.post(gateway.url + "/templates/en/alert_raised.subject.j2", data=form, allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"].endswith("?done=saved")
    assert 'id="template-done"' in admin.get(gateway.url + done.headers["Location"]).text
