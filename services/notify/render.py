"""Render notifications from jinja2 templates in a sandbox, per language.

Templates live in ``templates/<language>/<kind>.<channel>.<part>.j2``. They are
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

from jinja2 import ChainableUndefined, FileSystemLoader, TemplateError, pass_context
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
    fallback: bool = False
    error: str | None = None


def language_for(preference: str | None) -> str:
    """Map a recipient's preference (``zh``, ``zh-CN``, ``en-US`` ...) to a template language."""
    pref = (preference or "").lower()
    if pref.startswith("en"):
        return "en"
    return DEFAULT_LANGUAGE


class Renderer:
    def __init__(self, template_dir: Path = TEMPLATE_DIR):
        loader = FileSystemLoader(str(template_dir))
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

    def render(self, kind: str, channel: str, language: str, context: dict, recipient: dict) -> Rendered:
        ctx = self._context(context, language, recipient)
        base = f"{language}/{kind}.{channel}"
        try:
            subject = self.plain.get_template(f"{base}.subject.j2").render(ctx).strip()
            text = self.plain.get_template(f"{base}.txt.j2").render(ctx)
            try:
                html_template = self.html.get_template(f"{base}.html.j2")
            except TemplateError:
                html = None
            else:
                html = html_template.render(ctx)
            return Rendered(" ".join(subject.split()), text, html)
        except Exception as exc:  # any template failure: fall back, never drop
            log.warning("template %s failed (%s); sending the built-in message", base, exc)
            return fallback_message(ctx, f"{type(exc).__name__}: {exc}")


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
    return Rendered(f"[{level}] {title}", text, None, fallback=True, error=error)
