"""Customer messages render from their purpose's templates in the request's language, on
every customer channel's format, from the context as the cases service sends it."""

import pytest

from services.notify.channels.testing import customer_request
from services.notify.customers.render import SMS_PARAMS, RenderFailed, render
from services.notify.render import Renderer

PURPOSES = ("followup_survey", "case_reply", "playbook_reply")


@pytest.mark.parametrize("purpose", PURPOSES)
@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize("fmt", ["text", "sms", "email"])
def test_every_purpose_renders_in_both_languages_on_every_format(purpose, language, fmt):
    request = customer_request(purpose, language)
    note = render(Renderer(), request, fmt, None, "Asia/Shanghai")
    assert note.subject and "\n" not in note.subject and note.text.strip()
    assert "CASE-1" in note.text
    assert set(note.params) == set(SMS_PARAMS[purpose])
    assert (note.html is not None) == (fmt == "email")
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in note.subject + note.text.replace("王芳", ""))
    if language == "en":
        # only the customer's own words (name, title, reply) may be Chinese in an English message
        own = [request["context"].get(k, "") for k in ("case_title", "reply_text", "customer_name")]
        stripped = note.text
        for part in sorted(own, key=len, reverse=True):  # a title may be part of the reply
            stripped = stripped.replace(part, "")
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in stripped)
    else:
        assert chinese
    context = request["context"]
    if purpose == "followup_survey":
        assert context["survey_url"] in note.text and context["reply_code"] in note.text
        assert note.url == context["survey_url"]
    else:
        assert context["reply_text"] in note.text and note.url is None


def test_the_survey_email_shows_the_deadline_in_the_customers_zone_and_escapes_html():
    request = customer_request(
        "case_reply", "en", context={"reply_text": "<b>refund</b> sent", "case_title": "x"}
    )
    note = render(Renderer(), request, "email", None, "Asia/Shanghai")
    assert "&lt;b&gt;refund&lt;/b&gt;" in (note.html or "") and "<b>refund</b>" in note.text
    survey = render(Renderer(), customer_request("followup_survey", "en"), "email", None, "America/New_York")
    assert "2026-12-04 05:00 (America/New_York)" in survey.text


def test_a_customer_without_a_name_is_greeted_in_their_language():
    request = customer_request("case_reply", "zh-CN")
    assert render(Renderer(), request, "text", None, "Asia/Shanghai").text.startswith("客户，您好")
    assert render(Renderer(), request, "text", "李雷", "Asia/Shanghai").text.startswith("李雷，您好")
    en = customer_request("case_reply", "en")
    assert render(Renderer(), en, "text", None, "Asia/Shanghai").params["name"] == "there"


def test_a_broken_template_fails_the_message_instead_of_sending_something_else():
    renderer = Renderer(overrides={"en/case_reply.txt.j2": "{{ reply_text | no_such_filter }}"})
    with pytest.raises(RenderFailed, match="en/case_reply"):
        render(renderer, customer_request("case_reply", "en"), "text", None, "Asia/Shanghai")
