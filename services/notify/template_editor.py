"""The template editor's work (the console's ``/templates``; RPCs in
``template_endpoints.py``): a draft rendered by the real renderer against its kind's
sample, the fields it names that the sample lacks (with their lines), and a test send
of the draft through the real pipeline to the admin's own destination.

A draft is never stored: it is an override of a renderer made for one call
(``DraftRenderer``), so the replica's live renderer and every other send are untouched.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, replace

from jinja2 import TemplateError, nodes
from jinja2.meta import find_undeclared_variables

from contracts.messages import NOTIFICATION_KINDS
from services.common.errors import BadRequest
from services.notify.channels.base import Channel
from services.notify.delivery import Pipeline
from services.notify.overrides import named
from services.notify.policy import Policy
from services.notify.render import TEMPLATE_NAME, Rendered, Renderer
from services.notify.samples import SAMPLE_RECIPIENT, sample
from services.notify.simulate import preview
from services.notify.stages.resolve import Resolver
from services.notify.store import NotifyStore

TEST_MARK = "[测试 TEST]"  # before a test message's subject, in both languages
SHARED_KIND = "case_assigned"  # the sample a shared part (``_layout.html.j2``) is shown with
# jinja2's own globals (not fields of a message)
JINJA_GLOBALS = frozenset(
    {"range", "dict", "lipsum", "cycler", "joiner", "namespace", "loop", "self", "super"}
)
SHARED_FORMATS = {"_layout.html.j2": "email", "_md.j2": "md", "_slack.j2": "slack"}


@dataclass(frozen=True)
class Target:
    """What a template name says: its language, kind (None: a shared part), channel, part."""

    name: str
    language: str
    kind: str | None
    channel: str | None
    part: str | None


def target(name) -> Target:
    """The parts of a staff notification template's name; BadRequest names ``name``."""
    match = TEMPLATE_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None or (match["kind"] and match["kind"] not in NOTIFICATION_KINDS):
        raise BadRequest(
            f"name: {name!r} is not a staff notification template "
            f"(<language>/<kind>[.<channel>].<part>.j2, kinds: {', '.join(NOTIFICATION_KINDS)})"
        )
    return Target(name, match["language"], match["kind"], match["channel"], match["part"])


def channel_for(t: Target, channels: dict[str, Channel], wanted: str | None) -> Channel:
    """The channel a preview or test send uses: ``wanted``, else the one the template is for."""
    if wanted is None:
        fmt = SHARED_FORMATS.get(t.name.split("/", 1)[1]) or {"md": "md", "slack": "slack"}.get(t.part or "")
        if t.channel:
            wanted = t.channel
        elif fmt in ("md", "slack"):
            wanted = next((n for n, c in channels.items() if c.template_format == fmt), None)
        else:
            wanted = "email"
    if wanted not in channels:
        raise BadRequest(f"channel: one of {', '.join(channels)}")
    return channels[wanted]


class DraftRenderer(Renderer):
    """The live templates with one draft over them, always in the draft's language (a
    test goes to an admin who may read the other one), the subject marked for a test."""

    def __init__(self, live: Renderer, name: str, source: str, language: str, mark: str = ""):
        super().__init__(overrides={**live.overrides, name: source})
        self.language = language
        self.mark = mark

    def render(self, kind, channel, language, context, recipient, fmt="email") -> Rendered:
        rendered = super().render(kind, channel, self.language, context, recipient, fmt)
        return replace(rendered, subject=f"{self.mark} {rendered.subject}") if self.mark else rendered


def uses(renderer: Renderer, t: Target, channel: Channel) -> bool:
    """Whether a message on ``channel`` is made with template ``t`` (not a more specific one)."""
    if t.kind is None:
        return True
    base, c, fmt = f"{t.language}/{t.kind}", channel.name, channel.template_format
    names = {
        "subject": [f"{base}.{c}.subject.j2", f"{base}.subject.j2"],
        "txt": [f"{base}.{c}.txt.j2", f"{base}.txt.j2"],
        "html": [f"{base}.{c}.html.j2", f"{base}.html.j2"] if fmt == "email" else [],
    }.get(t.part or "", [f"{base}.{c}.body.j2", f"{base}.{fmt}.j2"] if fmt not in ("email", "text") else [])
    try:
        return bool(names) and renderer.plain.select_template(names).name == t.name
    except TemplateError:
        return False


def _path(node) -> list[str] | None:
    """``customer.name`` / ``event['scores']`` as ``["customer", "name"]``; None otherwise."""
    if isinstance(node, nodes.Name):
        return [node.name]
    if isinstance(node, nodes.Getattr):
        key = node.attr
    elif (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        key = node.arg.value
    else:
        return None
    head = _path(node.node)
    return None if head is None else [*head, key]


def unknown_fields(renderer: Renderer, source: str, context: dict) -> list[str]:
    """``line N: field`` for every field the template reads that the message does not
    have (they render as nothing, so a misspelt one is silent otherwise)."""
    try:
        tree = renderer.plain.parse(source)
        from_context = find_undeclared_variables(tree)  # not set or looped over in the template
    except Exception:  # the check reports syntax errors and unknown filters
        return []
    found: dict[str, int] = {}
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Getitem)):
        path = _path(node)
        if not path or path[0] not in from_context or path[0] in JINJA_GLOBALS:
            continue
        value: object = context
        for depth, key in enumerate(path):
            if not isinstance(value, dict):
                break  # a method or attribute of a value (``text.upper``): not a field
            if key not in value:
                found.setdefault(".".join(path[: depth + 1]), node.lineno)
                break
            value = value[key]
    return [
        f"line {line}: {field}" for field, line in sorted(found.items(), key=lambda item: (item[1], item[0]))
    ]


def preview_draft(pipeline: Pipeline, name, source, channel: str | None) -> dict:
    """The draft as ``channel`` would send it, rendered from its kind's sample; with the
    problems that would refuse it (each naming its line) and the unknown fields."""
    t = target(name)
    if not isinstance(source, str):
        raise BadRequest("source: a template text")
    live = pipeline.renderer
    kind = t.kind or SHARED_KIND
    chosen = channel_for(t, pipeline.channels, channel)
    context = live._context(sample(kind), t.language, SAMPLE_RECIPIENT)
    result = {
        "name": name,
        "kind": kind,
        "language": t.language,
        "channel": chosen.name,
        "errors": live.check(name, source, sample(kind), SAMPLE_RECIPIENT),
        "unknown_fields": unknown_fields(live, source, context),
        "uses_template": None,
        "rendering": None,
    }
    if result["errors"]:
        return result
    draft = DraftRenderer(live, name, source, t.language)
    trial = Pipeline(pipeline.store, pipeline.channels, draft, pipeline.announce, pipeline.policy)
    result["uses_template"] = uses(draft, t, chosen)
    result["rendering"] = preview(trial, kind, chosen, t.language, sample(kind), SAMPLE_RECIPIENT)
    return result


@dataclass(frozen=True)
class TestLimit:
    """Test sends allowed per user: ``burst`` at once, then one per ``interval`` seconds."""

    interval: float = 120.0
    burst: int = 3


def send_test(
    pipeline: Pipeline, name, source, channel: str | None, user: str, now: float, limit: TestLimit
) -> dict:
    """Send the draft's rendering of its kind's sample to ``user`` (a person of the
    people directory) on ``channel`` through the pipeline, now, marked as a test: one
    attempt, no fallback. ``{outcome: sent | refused | failed, reason, delivery_id}``."""
    t = target(name)
    store: NotifyStore = pipeline.store
    live = pipeline.renderer
    kind = t.kind or SHARED_KIND
    chosen = channel_for(t, pipeline.channels, channel)
    problems = (
        live.check(name, source, sample(kind), SAMPLE_RECIPIENT) if isinstance(source, str) else ["a text"]
    )
    if problems:
        raise BadRequest(named(problems))
    answer = {"name": name, "channel": chosen.name, "to": user, "delivery_id": None, "retry_after": None}
    resolved = Resolver(store, pipeline.channels).resolve({"kind": "person", "id": user}, chosen.name)
    if resolved.error:
        return {**answer, "outcome": "refused", "reason": "no_destination", "detail": resolved.error}
    granted, wait = store.take_tokens(f"template-test:{user}", 1, limit.interval, limit.burst, now)
    if not granted:
        rule = f"at most {limit.burst} test sends at once, then one every {limit.interval:g} s"
        retry = math.ceil(wait)
        return {
            **answer,
            "outcome": "refused",
            "reason": "rate_limited",
            "detail": rule,
            "retry_after": retry,
        }
    context = sample(kind)
    request = {
        "notification_id": f"template-test:{uuid.uuid4().hex[:16]}",
        "kind": kind,
        "recipient": {"kind": "person", "id": user},
        "channels": [chosen.name],
        "level": context.get("level", "P4"),
        "case_id": None,  # about no real case: nothing of a case's record changes
        "context": {**context, "test": {"template": name, "by": user}},
    }
    draft = DraftRenderer(live, name, source, t.language, TEST_MARK)
    once: Policy = replace(pipeline.policy, max_attempts=1, fallback=None)
    [delivery_id] = Pipeline(store, pipeline.channels, draft, pipeline.announce, once).deliver(
        request, now, hold=False
    )
    doc = store.get_delivery(delivery_id) or {}
    status = doc.get("status")
    outcome = "sent" if status == "delivered" else "failed"
    detail: str | None = None if status == "delivered" else doc.get("last_error")
    if status not in ("delivered", "failed"):
        detail = "not sent at once (the channel's send rate); it is sent later with the saved template"
    return {
        **answer,
        "outcome": outcome,
        "reason": None if outcome == "sent" else "send_failed",
        "detail": detail,
        "delivery_id": delivery_id,
    }
