"""The follow-up (回访) routes (``GatewayService`` mixes them in): the follow-up tasks
(API and console page, ``cases.followup_tasks``) and the customer's survey pages,
without a login (``survey.py``)."""

from __future__ import annotations

from typing import Any

from services.gateway import cases, survey
from services.gateway.entrypoints import route
from services.gateway.inputs import query
from services.gateway.views import render


class FollowupEndpoints:
    """Mixed into ``GatewayService`` (which provides ``services``, ``store`` and
    ``publish_followup_answer``)."""

    services: Any
    store: Any
    publish_followup_answer: Any

    @route("followups.list")
    def list_followups(self, request, principal):
        """Follow-up tasks (回访): agents see their own and their teams' (cases.followup_tasks)."""
        return cases.followup_tasks(self.services, request, principal.user, query(request, "followups.list"))

    @route("console.followups")
    def followups_page(self, request, principal):
        q = query(request, "console.followups")
        data = cases.followup_tasks(self.services, request, principal.user, q)
        return render("followups.html", principal, page=data, next_url=data["next"], query=q)

    @route("survey.code")
    def survey_code(self, request, principal):
        return survey.by_code(self.services, request.args.get("code"), request.args.get("lang"))

    @route("survey.form")
    def survey_form(self, request, principal, token):
        return survey.form(self.store, token, request.args.get("lang"))

    @route("survey.answer")
    def survey_answer(self, request, principal, token):
        return survey.answer(self.store, self.publish_followup_answer, token, request.form)
