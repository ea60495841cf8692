"""Admin-edited templates: stored overrides of the file templates (``render.py``).

Every verb first brings this replica's renderer in step with the store (another
replica may have saved or deleted one), and again after a change.
"""

from __future__ import annotations

from contracts.messages import NOTIFICATION_KINDS
from services.common.errors import BadRequest, NotFound
from services.notify.render import TEMPLATE_NAME, Renderer
from services.notify.samples import SAMPLE_RECIPIENT, sample
from services.notify.store import NotifyStore

MAX_SOURCE = 100_000  # characters


class TemplateOverrides:
    """The template overrides' admin verbs over the store and this replica's renderer."""

    def __init__(self, store: NotifyStore, renderer: Renderer):
        self.store = store
        self.renderer = renderer

    def list(self) -> list[dict]:
        """Every template name, and whether an override replaces the file."""
        overrides = self.store.template_overrides()
        self.renderer.sync(overrides)
        return [{"name": n, "overridden": n in overrides} for n in self.renderer.names()]

    def show(self, name: str) -> dict:
        self.renderer.sync(self.store.template_overrides())
        try:
            return {"name": name, "source": self.renderer.source(name)}
        except Exception:
            raise NotFound(f"no template {name}") from None

    def save(self, name: str, source: str, by: str) -> dict:
        """Store an override after checking its syntax (errors name the line), refusing
        private-attribute access, and rendering its kind's sample payload."""
        if not isinstance(source, str) or len(source) > MAX_SOURCE:
            raise BadRequest(f"source: a template text of at most {MAX_SOURCE:,} characters")
        match = TEMPLATE_NAME.match(name if isinstance(name, str) else "")
        kind = match["kind"] if match and match["kind"] in NOTIFICATION_KINDS else "case_assigned"
        self.renderer.sync(self.store.template_overrides())
        problems = self.renderer.check(name, source, sample(kind), SAMPLE_RECIPIENT)
        if problems:
            raise BadRequest([f"{name}: {p}" for p in problems])
        self.store.save_template(name, source, by)
        self.renderer.sync(self.store.template_overrides())
        return {"name": name, "saved": True}

    def delete(self, name: str) -> dict:
        """Drop an override; the file template applies again."""
        if not self.store.delete_template(name):
            raise NotFound(f"no override for {name}")
        self.renderer.sync(self.store.template_overrides())
        return {"name": name, "deleted": True}
