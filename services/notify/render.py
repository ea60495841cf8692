"""Render notifications from jinja2 templates in a sandbox, per language.

Templates live in ``templates/<language>/``; for each part the most specific
name wins:

* ``<kind>.<channel>.<part>.j2`` (one channel), then
* ``<kind>.<format>.j2`` for the body in a channel's dialect (``md`` for
  WeCom/DingTalk/Feishu/Teams, ``slack`` for Slack mrkdwn), or
  ``<kind>.<part>.j2`` for ``subject``, ``txt`` and ``html``.

Admin-edited templates stored in MongoDB override files of the same name
(``overrides``). They are
admin-editable, so they run in jinja2's immutable sandbox: no attribute access
to Python internals, no mutation of the context. A template that fails at send
time never drops the notification: a built-in plain message is sent instead
and the fallback is reported to the caller, which counts it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import ChainableUndefined, ChoiceLoader, DictLoader, FileSystemLoader, TemplateError, pass_context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from contracts.messages import LEVEL_NAMES

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None
    body: str = ""  # in the channel's dialect; the plain text for email and webhook
    fallback: bool = False
    error: str | None = None


def language_for(preference: str | None) -> str:
    """Map a recipient's preference (``zh``, ``zh-CN``, ``en-US`` ...) to a template language."""
    pref = (preference or "").lower()
    if pref.startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


class Renderer:
    def __init__(self, template_dir: Path = TEMPLATE_DIR, overrides: dict[str, str] | None = None):
        # A live dict: storing an override makes the next render use it.
        self.overrides: dict[str, str] = overrides if overrides is not None else {}
        loader = ChoiceLoader([DictLoader(self.overrides), FileSystemLoader(str(template_dir))])
        # Optional fields (a customer without a tier) render as empty, not as errors.
        common = dict(loader=loader, undefined=ChainableUndefined, keep_trailing_newline=False)
        self.plain = ImmutableSandboxedEnvironment(autoescape=False, **common)
        self.html = ImmutableSandboxedEnvironment(autoescape=True, **common)
        for env in (self.plain, self.html):
            env.filters["localtime"] = localtime

    def _context(self, context: dict, language: str, recipient: dict) -> dict:
        level = context.get("level", "P4")
        return {
            **context,
            "recipient": recipient,
            "language": language,
            "timezone": recipient.get("timezone") or "Asia/Shanghai",
            "level_name": LEVEL_NAMES.get(level, {}).get(language, level),
        }

    def render(
        self, kind: str, channel: str, language: str, context: dict, recipient: dict, fmt: str = "email"
    ) -> Rendered:
        ctx = self._context(context, language, recipient)
        base = f"{language}/{kind}"
        try:
            subject = self._part(self.plain, [f"{base}.{channel}.subject.j2", f"{base}.subject.j2"], ctx)
            text = self._part(self.plain, [f"{base}.{channel}.txt.j2", f"{base}.txt.j2"], ctx)
            html = None
            if fmt == "email":
                try:
                    html = self._part(self.html, [f"{base}.{channel}.html.j2", f"{base}.html.j2"], ctx)
                except TemplateError:
                    html = None
                body = text
            elif fmt == "text":
                body = text
            else:
                body = self._part(self.plain, [f"{base}.{channel}.body.j2", f"{base}.{fmt}.j2"], ctx)
            return Rendered(" ".join(subject.split()), text, html, body)
        except Exception as exc:  # any template failure: fall back, never drop
            log.warning("template %s.%s failed (%s); sending the built-in message", base, channel, exc)
            return fallback_message(ctx, f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _part(env, names: list[str], ctx: dict) -> str:
        return env.select_template(names).render(ctx)


@pass_context
def localtime(ctx, value: str) -> str:
    """An ISO timestamp shown in the recipient's time zone: ``2026-11-20 10:00 (Asia/Shanghai)``."""
    try:
        zone = ZoneInfo(ctx.get("timezone") or "UTC")
        moment = datetime.fromisoformat(str(value)).astimezone(zone)
    except (ValueError, ZoneInfoNotFoundError):
        return str(value)
    return f"{moment:%Y-%m-%d %H:%M} ({zone.key})"


def fallback_message(ctx: dict, error: str) -> Rendered:
    """A plain bilingual message built without templates."""
    title = str(ctx.get("title", ctx.get("case_id", "CX alert")))
    level = ctx.get("level", "")
    url = ctx.get("case_url", "")
    text = (
        f"[{level}] {title}\n"
        f"请处理 / Please follow up: {url}\n\n"
        f"(模板渲染失败，已发送默认内容 / template failed, default message sent)\n"
    )
    return Rendered(f"[{level}] {title}", text, None, body=text, fallback=True, error=error)
