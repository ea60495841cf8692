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
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import (
    ChainableUndefined,
    ChoiceLoader,
    DictLoader,
    FileSystemLoader,
    TemplateError,
    TemplateSyntaxError,
    nodes,
    pass_context,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment

from contracts.messages import LEVEL_NAMES

log = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent / "templates"
LANGUAGES = ("zh-CN", "en")
PARTS = ("subject", "txt", "html", "md", "slack", "body")
TEMPLATE_NAME = re.compile(
    r"^(?P<language>zh-CN|en)/(?:_[a-z_]+\.(?:html\.)?j2|(?P<kind>[a-z_]+)(?:\.(?P<channel>[a-z]+))?\.(?P<part>[a-z]+)\.j2)$"
)
DEFAULT_LANGUAGE = "zh-CN"
BUILTIN_FALLBACK = "builtin:fallback"
MAX_POWER_BITS = 4096  # 2 ** 4096 is plenty for a message; 9 ** 10**9 would take hours
# How templates name an SLA clock (the cases service's clock names), per language.
CLOCK_NAMES = {
    "acknowledge": {"zh-CN": "首次响应", "en": "first response"},
    "resolve": {"zh-CN": "解决", "en": "resolution"},
}
# "{0._x}" / "{0[_x]}": a str.format field reaching for a private attribute
PRIVATE_FORMAT_FIELD = re.compile(r"\{[^{}]*[.\[]\s*_")


class TemplateSandbox(ImmutableSandboxedEnvironment):
    """jinja2's immutable sandbox, stricter in two ways.

    * Access to an unsafe attribute raises SecurityError. jinja2 returns an
      undefined instead, which ChainableUndefined renders as nothing, so
      ``{{ x|attr('__class__') }}`` would have been saved as a harmless-looking
      template; now the check refuses it and a send falls back.
    * ``*`` and ``**`` are bounded: ``'a' * 10**9`` or ``9 ** 10**9`` would
      hold the worker and its memory. Intercepting them also stops jinja2 from
      computing such constants while compiling.
    """

    intercepted_binops = frozenset({"*", "**"})

    def unsafe_undefined(self, obj, attribute):
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe.")

    def call_binop(self, context, operator, left, right):
        if operator == "**" and all(isinstance(v, int) for v in (left, right)):
            if right > 0 and abs(left) > 1 and right * left.bit_length() > MAX_POWER_BITS:
                raise SecurityError(f"{left} ** {right} is too large a number for a message")
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, (str, list, tuple)) and isinstance(times, int):
                    if len(sequence) * times > MAX_RANGE:
                        raise SecurityError(f"repeating a sequence past {MAX_RANGE} items is not allowed")
        return super().call_binop(context, operator, left, right)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None
    body: str = ""  # in the channel's dialect; the plain text for email and webhook
    fallback: bool = False
    error: str | None = None
    template: str | None = None  # the template the body came from (BUILTIN_FALLBACK after a failure)


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
        self.plain = TemplateSandbox(autoescape=False, **common)
        self.html = TemplateSandbox(autoescape=True, **common)
        for env in (self.plain, self.html):
            env.filters["localtime"] = localtime
            env.filters["md"] = markdown_text
            env.filters["mrkdwn"] = slack_text
            env.filters["sla_clock"] = sla_clock

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
            text_names = [f"{base}.{channel}.txt.j2", f"{base}.txt.j2"]
            text = self._part(self.plain, text_names, ctx)
            html = None
            if fmt == "email":
                try:
                    html = self._part(self.html, [f"{base}.{channel}.html.j2", f"{base}.html.j2"], ctx)
                except TemplateError:
                    html = None
                body, body_names = text, text_names
            elif fmt == "text":
                body, body_names = text, text_names
            else:
                body_names = [f"{base}.{channel}.body.j2", f"{base}.{fmt}.j2"]
                body = self._part(self.plain, body_names, ctx)
            template = self.plain.select_template(body_names).name
            return Rendered(" ".join(subject.split()), text, html, body, template=template)
        except Exception as exc:  # any template failure: fall back, never drop
            log.warning("template %s.%s failed (%s); sending the built-in message", base, channel, exc)
            return fallback_message(ctx, f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _part(env, names: list[str], ctx: dict) -> str:
        return env.select_template(names).render(ctx)

    def sync(self, overrides: dict[str, str]) -> None:
        """Make the stored overrides current (they may have been saved by another replica)."""
        if overrides != self.overrides:
            self.overrides.clear()
            self.overrides.update(overrides)
            # a cached file template would otherwise keep shadowing a new override
            for env in (self.plain, self.html):
                if env.cache is not None:
                    env.cache.clear()

    def names(self) -> list[str]:
        return sorted(set(self.plain.list_templates(extensions=["j2"])))

    def source(self, name: str) -> str:
        loader = self.plain.loader
        assert loader is not None  # the environment is built with one
        return loader.get_source(self.plain, name)[0]

    def check(self, name: str, source: str, sample: dict, recipient: dict) -> list[str]:
        """Problems that keep ``source`` from being saved as template ``name``: a bad
        name, a syntax error (with its line), access to private attributes, or a
        failure rendering the sample payload. Empty when it may be saved."""
        if not isinstance(source, str):
            return ["source: a template is text"]
        match = TEMPLATE_NAME.fullmatch(name) if isinstance(name, str) else None
        if match is None:
            return [
                f"name: {name!r} is not <language>/<kind>[.<channel>].<part>.j2 (parts: {', '.join(PARTS)})"
            ]
        if match["part"] and match["part"] not in PARTS:
            return [f"name: unknown part {match['part']!r}; one of {', '.join(PARTS)}"]
        env = self.html if match["part"] == "html" or name.endswith(".html.j2") else self.plain
        try:
            tree = env.parse(source)
            env.compile(source, name)  # unknown filters and tests surface here
        except TemplateSyntaxError as exc:
            return [f"line {exc.lineno}: {exc.message}"]
        except (RecursionError, SyntaxError, MemoryError) as exc:
            # jinja2's parser recurses per nesting level; Python's compiler stops at
            # 200 nested parentheses (SyntaxError); neither is a TemplateSyntaxError
            return [f"the template is nested too deeply to compile ({type(exc).__name__})"]
        problems = _private_access(tree)
        if problems:
            return problems
        trial = Renderer(overrides={**self.overrides, name: source})
        trial_env = trial.html if env is self.html else trial.plain
        try:
            ctx = trial._context(sample, match["language"], recipient)
            trial_env.get_template(name).render(ctx)
        except Exception as exc:  # SecurityError, UndefinedError, TypeError ...
            line = _template_line(exc)
            where = f"line {line}: " if line else ""
            return [f"{where}rendering the sample payload failed: {type(exc).__name__}: {exc}"]
        return []


def _constant(node):
    """The text of a constant expression (``'_' ~ '_class__'``, ``'_' + 'x'`` too), else None.

    Folded here by hand: jinja2's ``as_const`` would also run filters and calls."""
    if isinstance(node, nodes.Const):
        return node.value if isinstance(node.value, str) else None
    parts = node.nodes if isinstance(node, nodes.Concat) else None
    if isinstance(node, (nodes.Add, nodes.Concat)) and parts is None:
        parts = [node.left, node.right]
    if parts is None:
        return None
    values = [_constant(part) for part in parts]
    return "".join(values) if all(v is not None for v in values) else None


def _private_access(tree) -> list[str]:
    """Problems for every place that names a private attribute, however it is spelt:
    ``x._y``, ``x['_y']``, ``x['_' ~ 'y']``, ``x|attr('_y')``, ``{% set ns._y %}``,
    ``'{0._y}'.format(x)``; and ``attr()`` with a computed name, which no check can read."""
    problems = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.NSRef, nodes.Const)):
        if isinstance(node, (nodes.Getattr, nodes.NSRef)):
            names: list[str | None] = [node.attr]
        elif isinstance(node, nodes.Getitem):
            names = [_constant(node.arg)]
        elif isinstance(node, nodes.Filter):
            if node.name != "attr":
                continue
            names = [_constant(arg) for arg in node.args] or [None]
            if any(not isinstance(n, str) for n in names):
                problems.append(f"line {node.lineno}: attr() needs a constant attribute name")
                continue
        else:
            if isinstance(node.value, str) and PRIVATE_FORMAT_FIELD.search(node.value):
                problems.append(
                    f"line {node.lineno}: a format field naming a private attribute is not allowed"
                )
            continue
        problems += [
            f"line {node.lineno}: access to {n!r} is not allowed"
            for n in names
            if isinstance(n, str) and n.startswith("_")
        ]
    return problems


def _template_line(exc: Exception) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:  # jinja2 rewrites frames of template code to the template's lines
        if tb.tb_frame.f_code.co_filename.endswith(".j2") or "<template>" in tb.tb_frame.f_code.co_filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]()<>#|~])")


def markdown_text(value) -> str:
    """Customer-supplied text shown literally in markdown / mrkdwn: no links, bold,
    mentions or tags can be injected, and no line can start a heading or quote."""
    text = MARKDOWN_SPECIAL.sub(r"\\\1", str(value))
    return " ".join(text.split())  # one line: it sits inside a quote or a field


def slack_text(value) -> str:
    """Customer-supplied text in Slack mrkdwn: Slack's own escapes for &, < and >
    (which is what links and mentions are made of); Slack has no backslash escapes."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return " ".join(text.split())


@pass_context
def localtime(ctx, value: str) -> str:
    """An ISO timestamp shown in the recipient's time zone: ``2026-11-20 10:00 (Asia/Shanghai)``."""
    try:
        zone = ZoneInfo(ctx.get("timezone") or "UTC")
        moment = datetime.fromisoformat(str(value)).astimezone(zone)
    except (ValueError, ZoneInfoNotFoundError):
        return str(value)
    return f"{moment:%Y-%m-%d %H:%M} ({zone.key})"


@pass_context
def sla_clock(ctx, name: str) -> str:
    """An SLA clock's name (``acknowledge``, ``resolve``) in the recipient's language."""
    return CLOCK_NAMES.get(str(name), {}).get(ctx.get("language"), str(name))


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
    return Rendered(
        f"[{level}] {title}", text, None, body=text, fallback=True, error=error, template=BUILTIN_FALLBACK
    )
