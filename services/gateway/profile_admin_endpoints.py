"""The profile admin routes' handlers (``GatewayService`` mixes them in): merge, export
and erase over the API and from the profile page's forms; the work is in
``profile_admin.py``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from services.gateway.entrypoints import route
from services.gateway.errors import Redirect
from services.gateway.inputs import json_body
from services.gateway.profile_admin import erase, export, merge


def _form(form, names: tuple[str, ...], flags: tuple[str, ...] = ()) -> dict:
    out: dict = {n: form.get(n, "") for n in names}
    out.update({f: form.get(f) in ("on", "true", "1") for f in flags})
    return out


def _back(customer_id: str, done: str) -> Redirect:
    return Redirect(f"/customers/{quote(customer_id, safe='')}?done={done}")


class ProfileAdminEndpoints:
    """The profile admin routes, mixed into ``GatewayService`` (which provides ``services``)."""

    services: Any

    @route("profiles.merge")
    def merge_profile(self, request, principal, customer_id):
        return merge(self.services, principal.user, customer_id, json_body(request))

    @route("profiles.erase")
    def erase_profile(self, request, principal, customer_id):
        return erase(self.services, principal.user, customer_id, json_body(request))

    @route("profiles.export", "console.profile_export")
    def export_profile(self, request, principal, customer_id):
        return export(self.services, principal.user, customer_id)

    @route("console.profile_merge")
    def merge_form(self, request, principal, customer_id):
        body = _form(request.form, ("merged", "reason"), ("confirm",))
        merge(self.services, principal.user, customer_id, body, where="form")
        raise _back(customer_id, "merged")

    @route("console.profile_erase")
    def erase_form(self, request, principal, customer_id):
        erase(
            self.services,
            principal.user,
            customer_id,
            _form(request.form, ("request_ref", "confirm")),
            "form",
        )
        raise _back(customer_id, "erased")
