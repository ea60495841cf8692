"""The render stage: a delivery as a ``Note`` in its recipient's language and its
channel's template dialect (the templates themselves: ``services/notify/render.py``).

A template that fails renders the built-in plain message instead (the renderer's
fallback); the stage counts it (``template_fallbacks``) when it is given counters,
which dry runs (preview, simulate) are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notify.channels.base import Channel, Note
from services.notify.render import Rendered, Renderer, language_for


class Counters(Protocol):
    def count(self, name: str, n: int = 1) -> None: ...


@dataclass(frozen=True)
class Rendering:
    """The note to send and the rendering it came from (template name, render error)."""

    note: Note
    rendered: Rendered


class NoteRenderer:
    """Renders a delivery's note through the sandboxed templates."""

    def __init__(self, renderer: Renderer, counters: Counters | None = None):
        self.renderer = renderer
        self.counters = counters

    def render(self, doc: dict, recipient: dict, channel: Channel) -> Rendering:
        """``doc`` (a delivery: ``_id``, ``kind``, ``level``, ``context``) for ``recipient``."""
        language = language_for(recipient.get("language"))
        who = {"id": recipient["id"], "name": recipient.get("name"), "timezone": recipient.get("timezone")}
        rendered = self.renderer.render(
            doc["kind"], channel.name, language, doc["context"], who, channel.template_format
        )
        if rendered.fallback and self.counters is not None:
            self.counters.count("template_fallbacks")
        note = Note(
            delivery_id=doc["_id"],
            kind=doc["kind"],
            level=doc["level"],
            language=language,
            title=rendered.subject,
            body=rendered.body,
            text=rendered.text,
            html=rendered.html,
            url=doc["context"].get("case_url"),
            case_id=doc.get("case_id"),
            facts=doc["context"],
        )
        return Rendering(note, rendered)
