"""Admin-edited templates: stored overrides of the file templates (``render.py``).

Every verb first brings this replica's renderer in step with the store (another
replica may have saved or deleted one), and again after a change.
"""

from __future__ import annotations

from contracts.messages import NOTIFICATION_KINDS
from services.common.errors import BadRequest, NotFound
from services.notify.render import TEMPLATE_DIR, TEMPLATE_NAME, Renderer
from services.notify.samples import SAMPLE_RECIPIENT, sample
from services.notify.store import NotifyStore

MAX_SOURCE = 100_000  # characters
MAX_REASON = 500


class TemplateOverrides:
    """The template overrides' admin verbs over the store and this replica's renderer."""

    def __init__(self, store: NotifyStore, renderer: Renderer):
        self.store = store
        self.renderer = renderer

    def list(self) -> list[dict]:
        """Every template name, whether an override replaces the file, and the override's
        version and last change (who, why, when), as parts of the name."""
        overrides = self.store.template_overrides()
        records = self.store.template_records()
        self.renderer.sync(overrides)
        return [
            {**name_parts(n), "name": n, "overridden": n in overrides, "override": records.get(n)}
            for n in self.renderer.names()
        ]

    def show(self, name: str) -> dict:
        """A template's current source, the shipped file's, and its override's versions."""
        self.renderer.sync(self.store.template_overrides())
        try:
            source = self.renderer.source(name)
        except Exception:
            raise NotFound(f"no template {name}") from None
        shipped = TEMPLATE_DIR / name
        return {
            **name_parts(name),
            "name": name,
            "source": source,
            "shipped": shipped.read_text(encoding="utf-8") if shipped.is_file() else None,
            "overridden": name in self.renderer.overrides,
            "override": self.store.template_records().get(name),
            "versions": self.store.template_versions(name),
        }

    def save(self, name: str, source: str, by: str, reason: str | None = None) -> dict:
        """Store an override after checking its syntax (errors name the line), refusing
        private-attribute access, and rendering its kind's sample payload."""
        if not isinstance(source, str) or len(source) > MAX_SOURCE:
            raise BadRequest(f"source: a template text of at most {MAX_SOURCE:,} characters")
        if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
            raise BadRequest(f"reason: a text of at most {MAX_REASON} characters")
        match = TEMPLATE_NAME.fullmatch(name if isinstance(name, str) else "")
        kind = match["kind"] if match and match["kind"] in NOTIFICATION_KINDS else "case_assigned"
        self.renderer.sync(self.store.template_overrides())
        problems = self.renderer.check(name, source, sample(kind), SAMPLE_RECIPIENT)
        if problems:
            raise BadRequest(named(problems))
        version = self.store.save_template(name, source, by, reason)
        self.renderer.sync(self.store.template_overrides())
        return {"name": name, "saved": True, **version}

    def delete(self, name: str, by: str = "admin", reason: str | None = None) -> dict:
        """Drop an override (a new version saying so); the file template applies again."""
        version = self.store.delete_template(name, by, reason)
        if version is None:
            raise NotFound(f"no override for {name}")
        self.renderer.sync(self.store.template_overrides())
        return {"name": name, "deleted": True, **version}


def named(problems: list[str]) -> list[str]:
    """The check's problems as ``field: problem`` (the source's, unless about the name)."""
    return [p if p.startswith(("name:", "source:")) else f"source: {p}" for p in problems]


def name_parts(name: str) -> dict:
    """``language``, ``kind``, ``channel`` and ``part`` of a template name (None where
    the name has none: a shared part such as ``_layout.html.j2``)."""
    match = TEMPLATE_NAME.fullmatch(name)
    parts = ("language", "kind", "channel", "part")
    return {k: match[k] for k in parts} if match else dict.fromkeys(parts)
