"""The console's rule editor over HTTP, submitting its forms as a browser would: every
field the page's form holds is sent back, to the URL of the button pressed.

A dry-run keeps the form (the rule id, new rule or edit, the window), so "save"
after a dry-run saves the rule it was editing; the YAML text the admin typed,
comments included, is kept as the version's source and shown when the rule is
edited again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

from tests.e2e.gateway_stack import csrf_of, gateway  # noqa: F401 - the fixture

RULE = {
    "id": "late-delivery",
    "name": "物流延迟",
    "level": "P3",
    "owner": {"kind": "team", "id": "cx-care"},
    "channels": ["email"],
    "when": {"all": [{"field": "touchpoint", "op": "eq", "value": "delivery"}]},
}
EDITED = """\
# 物流延迟: raised to P2 after the November complaints (ticket OPS-12)
id: late-delivery
name: 物流延迟
level: P2  # was P3
owner: {kind: team, id: cx-care}
channels: [email]
when:
  all:
    # every delivery touchpoint, whatever the score
    - {field: touchpoint, op: eq, value: delivery}
"""
NEW = """\
# a new rule, typed in the editor
id: refund-words
name: 退款关键词
level: P2
owner: {kind: person, id: wang.lei}
channels: [email]
when:
  all:
    - {field: text, op: contains_any, value: [退款, 退钱]}  # both spellings seen in calls
"""


@dataclass
class Form:
    """One ``<form>``: where it posts, its fields, and each submit button's own action."""

    action: str
    fields: dict = field(default_factory=dict)
    buttons: dict = field(default_factory=dict)  # button id -> formaction (or the form's)


class _Forms(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: dict[str, Form] = {}
        self._form: Form | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = self.forms.setdefault(a.get("id", ""), Form(a.get("action", "")))
        elif self._form is None:
            return
        elif tag == "input" and a.get("name") and a.get("type") not in ("submit", "checkbox"):
            self._form.fields[a["name"]] = a.get("value", "")
        elif tag == "textarea":
            self._textarea = a["name"]
            self._form.fields[self._textarea] = ""
        elif tag == "button" and a.get("type", "submit") == "submit":
            self._form.buttons[a.get("id")] = a.get("formaction") or self._form.action

    def handle_data(self, data):
        if self._textarea:
            self._form.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea:
            # a browser drops one newline right after <textarea>
            text = self._form.fields[self._textarea]
            self._form.fields[self._textarea] = text[1:] if text.startswith("\n") else text
            self._textarea = None
        elif tag == "form":
            self._form = None


def form_of(html: str, form_id: str) -> Form:
    parser = _Forms()
    parser.feed(html)
    assert form_id in parser.forms, f"no form {form_id}"
    return parser.forms[form_id]


def press(session, url: str, form: Form, button: str, **typed):
    """Submit ``form`` as the button ``button`` would, with ``typed`` replacing fields."""
    return session.post(url + form.buttons[button], data={**form.fields, **typed}, allow_redirects=False)


def test_save_after_a_dry_run_saves_the_rule_being_edited(gateway):  # noqa: F811
    assert gateway.api("admin", "POST", "/api/v1/rules", json=RULE).status_code == 201
    s = gateway.login("admin")
    editor = s.get(gateway.url + "/rules/late-delivery/edit").text
    dry = press(s, gateway.url, form_of(editor, "rule-form"), "dry-run-draft", document=EDITED, since="30d")
    assert dry.status_code == 200 and 'id="dry-run-result"' in dry.text, dry.text
    kept = form_of(dry.text, "rule-form")
    saved = press(s, gateway.url, kept, "save-rule")
    assert saved.status_code == 303, saved.text  # was 400: "rule late-delivery already exists"
    assert saved.headers["Location"].endswith("/rules/late-delivery")
    assert kept.fields["document"] == EDITED and kept.fields["since"] == "30d"
    found = gateway.api("admin", "GET", "/api/v1/rules/late-delivery").json()
    assert found["rule"]["level"] == "P2" and [v["version"] for v in found["versions"]] == [1, 2]


def test_a_new_rule_stays_new_through_a_dry_run(gateway):  # noqa: F811
    s = gateway.login("admin")
    editor = s.get(gateway.url + "/rule-editor").text
    dry = press(s, gateway.url, form_of(editor, "rule-form"), "dry-run-draft", document=NEW)
    assert dry.status_code == 200 and 'id="dry-run-result"' in dry.text, dry.text
    kept = form_of(dry.text, "rule-form")
    assert kept.buttons["save-rule"] == "/rules" and kept.fields["document"] == NEW
    saved = press(s, gateway.url, kept, "save-rule")
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/rules/refund-words"), saved.text
    # a second save of the same new-rule form is refused: that id exists now
    again = press(s, gateway.url, kept, "save-rule")
    assert again.status_code == 400 and "<code>id</code>" in again.text


def test_comments_survive_save_and_reopen(gateway):  # noqa: F811
    assert gateway.api("admin", "POST", "/api/v1/rules", json=RULE).status_code == 201
    s = gateway.login("admin")
    editor = s.get(gateway.url + "/rules/late-delivery/edit").text
    assert "# " not in form_of(editor, "rule-form").fields["document"]  # no source yet: generated YAML
    saved = press(s, gateway.url, form_of(editor, "rule-form"), "save-rule", document=EDITED)
    assert saved.status_code == 303, saved.text

    reopened = form_of(s.get(gateway.url + "/rules/late-delivery/edit").text, "rule-form")
    assert reopened.fields["document"] == EDITED  # word for word, comments included
    page = s.get(gateway.url + "/rules/late-delivery").text
    assert "ticket OPS-12" in page and "# was P3" in page

    # a comment-only change is a change: a new version holding the new text
    commented = EDITED.replace("# was P3", "# was P3 until 2026-11-30")
    saved = press(s, gateway.url, reopened, "save-rule", document=commented)
    assert saved.status_code == 303, saved.text
    found = gateway.api("admin", "GET", "/api/v1/rules/late-delivery").json()
    assert [v["version"] for v in found["versions"]] == [1, 2, 3]
    assert (
        found["source"] == commented
        and "+level: P2  # was P3 until 2026-11-30" in found["versions"][2]["diff"]
    )
    reopened = form_of(s.get(gateway.url + "/rules/late-delivery/edit").text, "rule-form")
    assert reopened.fields["document"] == commented

    # a version written without source (the API, cxctl, the enable toggle) shows as generated YAML
    assert gateway.api("admin", "POST", "/api/v1/rules/late-delivery/disable").status_code == 200
    reopened = form_of(s.get(gateway.url + "/rules/late-delivery/edit").text, "rule-form")
    assert "#" not in reopened.fields["document"] and "enabled: false" in reopened.fields["document"]
    assert gateway.api("admin", "GET", "/api/v1/rules/late-delivery").json()["source"] is None
