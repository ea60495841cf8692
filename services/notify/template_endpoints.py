"""The template admin RPCs (``NotifyService`` mixes them in): the overrides' verbs
(``overrides.py``, also ``cxctl notify templates``) and the console editor's draft
preview and test send (``template_editor.py``)."""

from __future__ import annotations

import time
from typing import Any

from services.common import settings
from services.common.errors import BadRequest, NotFound
from services.common.mongo import jsonable
from services.common.rpc import Id, rpc
from services.notify.overrides import TemplateOverrides
from services.notify.template_editor import TestLimit, preview_draft, send_test


class TemplateEndpoints:
    """Mixed into ``NotifyService`` (which provides the store, renderer and pipeline)."""

    store: Any
    templates: Any
    channels: Any
    _pipeline: Any

    @rpc
    def list_templates(self) -> list[dict]:
        """Every template name with its language, kind, channel and part, whether an
        admin override replaces the file, and the override's version and last change."""
        return jsonable(TemplateOverrides(self.store, self.templates).list())

    @rpc(expected_exceptions=NotFound)
    def get_template(self, name: Id) -> dict:
        """A template's source, the shipped file's source, the override's versions, and
        the channels a preview or test send may use."""
        shown = TemplateOverrides(self.store, self.templates).show(name)
        return jsonable({**shown, "channels": sorted(self.channels)})

    @rpc(expected_exceptions=BadRequest)
    def save_template(self, name: Id, source: str, by: Id = "admin", reason: str | None = None) -> dict:
        """Store an admin-edited template as the override's next version, after checking
        its syntax (errors name the line), refusing private-attribute access, and
        rendering the sample payload; who and why are kept with the version."""
        return jsonable(TemplateOverrides(self.store, self.templates).save(name, source, by, reason))

    @rpc(expected_exceptions=NotFound)
    def delete_template(self, name: Id, by: Id = "admin", reason: str | None = None) -> dict:
        """Drop an override (a new version, with who and why); the file template applies again."""
        return jsonable(TemplateOverrides(self.store, self.templates).delete(name, by, reason))

    @rpc(expected_exceptions=BadRequest)
    def preview_template(self, name: Id, source: str, channel: Id | None = None) -> dict:
        """A draft of template ``name`` rendered by the real renderer from its kind's
        sample as ``channel`` would send it (default: the channel the template is for):
        ``{errors, unknown_fields, uses_template, rendering}``; nothing is stored or sent."""
        return jsonable(preview_draft(self._pipeline(), name, source, channel))

    @rpc(expected_exceptions=BadRequest)
    def send_template_test(self, name: Id, source: str, channel: Id | None, to: Id) -> dict:
        """Send a draft's rendering of its kind's sample to person ``to`` on ``channel``
        through the pipeline, now, marked as a test (one attempt, no fallback), at most
        ``NOTIFY_TEMPLATE_TEST_BURST`` at once per person then one per
        ``NOTIFY_TEMPLATE_TEST_INTERVAL`` s: ``{outcome: sent | refused | failed, reason, detail}``."""
        limit = TestLimit(
            float(settings.get("NOTIFY_TEMPLATE_TEST_INTERVAL")),
            int(settings.get("NOTIFY_TEMPLATE_TEST_BURST")),
        )
        return jsonable(send_test(self._pipeline(), name, source, channel, to, time.time(), limit))
