"""The opt-out routes' handlers (``GatewayService`` mixes them in): the API and the
``/optouts`` page's forms; the work is in ``optouts.py``."""

from __future__ import annotations

from typing import Any

from services.gateway import optout_page, optouts
from services.gateway.entrypoints import route
from services.gateway.inputs import json_body, query
from services.gateway.pagination import page


class OptOutEndpoints:
    """Mixed into ``GatewayService`` (which provides ``services``)."""

    services: Any

    @route("optouts.list")
    def list_optouts(self, request, principal):
        q = query(request, "optouts.list")
        return page(request, optouts.listing(self.services, q), q["limit"], q["offset"])

    @route("optouts.add")
    def add_optout(self, request, principal):
        return optouts.add(self.services, principal.user, json_body(request))

    @route("optouts.get")
    def customer_optouts(self, request, principal, customer_id):
        return self.services.notify.get_customer_consent(customer_id)

    @route("optouts.remove")
    def remove_optout(self, request, principal, customer_id, channel):
        return optouts.remove(self.services, principal.user, customer_id, channel, json_body(request))

    @route("console.optouts")
    def optouts_page(self, request, principal):
        return optout_page.page(self.services, request, principal, query(request, "console.optouts"))

    @route("console.optout_add")
    def optout_add_form(self, request, principal):
        return optout_page.form_add(self.services, request, principal, query(request, "console.optouts"))

    @route("console.optout_remove")
    def optout_remove_form(self, request, principal, customer_id, channel):
        q = query(request, "console.optouts")
        return optout_page.form_remove(self.services, request, principal, q, customer_id, channel)
