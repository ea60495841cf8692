"""The live lexicon's routes (``GatewayService`` mixes them in): the API over the alerts
service's RPC (``lexicon.py``) and the console page's forms (``lexicon_page.py``)."""

from __future__ import annotations

from typing import Any

from services.gateway import lexicon, lexicon_page
from services.gateway.entrypoints import route
from services.gateway.inputs import json_body, query


class LexiconEndpoints:
    """Mixed into ``GatewayService`` (which provides ``services``)."""

    services: Any

    @route("lexicon.get")
    def get_lexicon(self, request, principal):
        return self.services.alerts.lexicon()

    @route("lexicon.versions")
    def lexicon_versions(self, request, principal):
        q = query(request, "lexicon.versions")
        return {"items": self.services.alerts.lexicon_history(q["limit"], q.get("list"))}

    @route("lexicon.edit")
    def lexicon_edit(self, request, principal):
        return lexicon.edit(self.services, principal, json_body(request))

    @route("lexicon.add_aspect")
    def lexicon_add_aspect(self, request, principal):
        return lexicon.add_aspect(self.services, principal, json_body(request))

    @route("lexicon.revert")
    def lexicon_revert(self, request, principal, version):
        return lexicon.revert(self.services, principal, version, json_body(request))

    @route("lexicon.analyze")
    def lexicon_analyze(self, request, principal):
        return lexicon.analyze(self.services, json_body(request))

    @route("console.lexicon")
    def lexicon_page(self, request, principal):
        return lexicon_page.page(self.services, principal)

    @route("console.lexicon_edit")
    def lexicon_form(self, request, principal):
        return lexicon_page.save(self.services, principal, request.form)

    @route("console.lexicon_aspect")
    def lexicon_aspect_form(self, request, principal):
        return lexicon_page.save_aspect(self.services, principal, request.form)

    @route("console.lexicon_revert")
    def lexicon_revert_form(self, request, principal, version):
        return lexicon_page.undo(self.services, principal, version, request.form)

    @route("console.lexicon_analyze")
    def lexicon_try(self, request, principal):
        return lexicon_page.try_text(self.services, principal, request.form)
