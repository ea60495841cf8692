"""Customer messages rendered from the templates of their purpose, in the request's language.

Templates (``templates/<language>/``, admin overrides apply as for notifications):
``<purpose>.subject.j2`` (email subject, WeChat ``first``), ``<purpose>.txt.j2`` (email
text, WeChat ``remark``), ``<purpose>.html.j2`` (email HTML) and ``<purpose>.sms.txt.j2``
(the SMS wording, which the vendor-approved template repeats). The request's ``context``
is the template context as cases sends it: ``survey_url``, ``reply_code``, ``scale``,
``case_title``, ``customer_name``, ``expires_at`` for a follow-up survey; ``reply_text``,
``case_title``, ``author`` for a reply.

Unlike a notification to staff, a customer message whose template fails is not replaced
by a built-in text (that one quotes case internals): it fails, with the error.
"""

from __future__ import annotations

from jinja2 import TemplateError

from services.notify.channels.base import CustomerNote
from services.notify.render import Renderer

# The variables each purpose's vendor-approved SMS template takes (``CustomerNote.params``).
SMS_PARAMS = {
    "followup_survey": ("name", "case", "link", "code"),
    "case_reply": ("name", "case", "reply"),
    "playbook_reply": ("name", "case", "reply"),
}
MAX_SMS_PARAM = 35  # characters of one variable (the vendor's limit for text variables)
GREETING_FALLBACK = {"zh-CN": "客户", "en": "there"}


# What the cases service puts in each purpose's context (services/cases/followups.py), for
# previews and the preview command: an operator registers the SMS wording from these.
SAMPLE_CONTEXT = {
    "followup_survey": {
        "survey_url": "https://cx.example.com/survey/eyJjIjoiQ0FTRS0xIn0.sig",
        "reply_code": "482913",
        "scale": "csat",
        "case_title": "NPS 贬损者 · 王芳",
        "customer_name": "王芳",
        "expires_at": "2026-12-04T10:00:00+00:00",
    },
    "case_reply": {"reply_text": "已为您补发快递，单号 SF123", "case_title": "快递延误", "author": "li.na"},
    "playbook_reply": {
        "reply_text": "退款已原路退回，1-3 个工作日到账",
        "case_title": "退款",
        "author": "li.na",
    },
}
SAMPLE_ADDRESS = {
    "phone": "13800138000",
    "email": "wang.fang@example.com",
    "wechat_openid": "oC-sample-openid",
}


# What each purpose's context must hold: a message without it would say nothing useful.
REQUIRED_CONTEXT = {
    "followup_survey": ("survey_url",),
    "case_reply": ("reply_text",),
    "playbook_reply": ("reply_text",),
}


class RenderFailed(Exception):
    pass


def request_problem(request: dict) -> str | None:
    """Why a ``customer_message_requested`` (valid by its contract) cannot be sent,
    naming the field, or None."""
    name = f"message {request['message_id']}"
    for key in REQUIRED_CONTEXT[request["purpose"]]:
        value = request["context"].get(key)
        if not isinstance(value, str) or not value.strip():
            return f"{name}: context.{key}: a non-empty text is required for {request['purpose']}"
    url = request["context"].get("survey_url")
    if url is not None and not (isinstance(url, str) and url.startswith(("https://", "http://"))):
        return f"{name}: context.survey_url: an http(s) URL is required"
    if len(set(request["channels"])) != len(request["channels"]):
        return f"{name}: channels: a channel is listed twice"
    return None


def sample_request(purpose: str, language: str, context: dict | None = None) -> dict:
    """A ``customer_message_requested`` payload for a preview."""
    return {
        "message_id": f"preview:{purpose}",
        "purpose": purpose,
        "customer_id": "C-preview",
        "channels": ["sms", "email", "wechat_oa"],
        "case_id": "CASE-1",
        "language": language,
        "not_after": None,
        "context": dict(SAMPLE_CONTEXT[purpose] if context is None else context),
    }


def sms_params(purpose: str, context: dict, case_id: str | None, name: str) -> dict:
    values = {
        "name": name,
        "case": case_id or "-",
        "link": str(context.get("survey_url") or ""),
        "code": str(context.get("reply_code") or ""),
        "reply": str(context.get("reply_text") or ""),
    }
    out = {k: values[k] for k in SMS_PARAMS[purpose]}
    # a link or code cut short is useless; a reply is cut with a mark
    for key in ("name", "reply"):
        if key in out and len(out[key]) > MAX_SMS_PARAM:
            out[key] = out[key][: MAX_SMS_PARAM - 1] + "…"
    return out


def render(
    renderer: Renderer, request: dict, channel_format: str, customer_name: str | None, timezone: str
) -> CustomerNote:
    """The message ``request`` asks for, as a customer channel of ``channel_format``
    (``text``, ``sms`` or ``email``) sends it; times shown in the customer's ``timezone``."""
    language = request["language"]
    name = (request["context"].get("customer_name") or customer_name or "").strip()
    context = {
        **request["context"],
        "purpose": request["purpose"],
        "case_id": request.get("case_id"),
        "customer_name": name or GREETING_FALLBACK[language],
        "language": language,
        "timezone": timezone,
    }
    base = f"{language}/{request['purpose']}"
    try:
        subject = " ".join(renderer.plain.get_template(f"{base}.subject.j2").render(context).split())
        text = renderer.plain.get_template(f"{base}.txt.j2").render(context)
        sms = renderer.plain.get_template(f"{base}.sms.txt.j2").render(context)
        html = (
            renderer.html.get_template(f"{base}.html.j2").render(context)
            if channel_format == "email"
            else None
        )
    except TemplateError as exc:
        raise RenderFailed(f"template {base}: {type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # the sandbox refusing something, a filter failing
        raise RenderFailed(f"template {base}: {type(exc).__name__}: {exc}") from exc
    return CustomerNote(
        message_id=request["message_id"],
        purpose=request["purpose"],
        language=language,
        subject=subject,
        text=sms.strip() if channel_format == "sms" else text,
        html=html,
        url=request["context"].get("survey_url"),
        case_id=request.get("case_id"),
        timezone=timezone,
        params=sms_params(
            request["purpose"], request["context"], request.get("case_id"), context["customer_name"]
        ),
    )
