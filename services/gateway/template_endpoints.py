"""The notification templates' routes (``GatewayService`` mixes them in): the API and
the console editor's page and forms, over notify's RPC (``notify_templates.py``)."""

from __future__ import annotations

from typing import Any

from services.gateway import notify_templates, template_pages
from services.gateway.entrypoints import route
from services.gateway.inputs import json_body, query


class TemplateEndpoints:
    """Mixed into ``GatewayService`` (which provides ``services``)."""

    services: Any

    @route("templates.list")
    def list_templates(self, request, principal):
        return notify_templates.listing(self.services)

    @route("templates.get")
    def get_template(self, request, principal, language, template):
        return notify_templates.show(self.services, language, template)

    @route("templates.save")
    def save_template(self, request, principal, language, template):
        return notify_templates.save(self.services, principal, language, template, json_body(request))

    @route("templates.revert")
    def revert_template(self, request, principal, language, template):
        return notify_templates.revert(self.services, principal, language, template, json_body(request))

    @route("templates.preview")
    def preview_template(self, request, principal, language, template):
        return notify_templates.preview(self.services, language, template, json_body(request))

    @route("templates.test")
    def test_template(self, request, principal, language, template):
        outcome = notify_templates.test_send(self.services, principal, language, template, json_body(request))
        refusal = notify_templates.limited(outcome)
        if refusal is not None:
            raise refusal
        return outcome

    @route("console.templates")
    def templates_page(self, request, principal):
        return template_pages.list_page(self.services, principal)

    @route("console.template")
    def template_page(self, request, principal, language, template):
        done = query(request, "console.template").get("done")
        return template_pages.editor_page(self.services, principal, language, template, done=done)

    @route("console.template_save")
    def template_save_form(self, request, principal, language, template):
        return self._template_form(request, principal, language, template, "save")

    @route("console.template_preview")
    def template_preview_form(self, request, principal, language, template):
        return self._template_form(request, principal, language, template, "preview")

    @route("console.template_test")
    def template_test_form(self, request, principal, language, template):
        return self._template_form(request, principal, language, template, "test")

    @route("console.template_revert")
    def template_revert_form(self, request, principal, language, template):
        return self._template_form(request, principal, language, template, "revert")

    def _template_form(self, request, principal, language, template, action):
        form = request.form
        return template_pages.form_action(self.services, principal, language, template, form, action)
