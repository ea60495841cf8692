"""The desk's team routes (``GatewayService`` mixes them in): "take it" over the API
(``cases.take``), and the teams page and its API: each team of the
people directory with its lead, its members (on shift now, open cases and load) and
its breaching cases, from the cases service (``cases.teams_overview``, which owns the
directory and applies who sees which team: an agent their own teams and those they
lead, owners and admins every team). Editing the teams stays on ``/people``."""

from __future__ import annotations

from typing import Any

from services.common import settings
from services.gateway import cases, urgency
from services.gateway.actions import TakeBody, load_valid_body
from services.gateway.cases import owner_names
from services.gateway.entrypoints import route
from services.gateway.inputs import json_body
from services.gateway.scope import viewer
from services.gateway.views import render


def overview(services, user: dict) -> dict:
    """The teams ``user`` may see, each breaching case with its SLA deadline (urgency.py)
    and the number the team has beyond those ``user`` may open (``hidden``)."""
    soon = int(settings.get("CONSOLE_BREACHING_SOON_MINUTES"))
    answer = services.cases.teams_overview(viewer(user), soon_minutes=soon)
    for team in answer["teams"]:
        team["breaching"] = [urgency.annotate(c) for c in team["breaching"]]
        team["hidden"] = max(0, team["breaching_total"] - len(team["breaching"]))
    return answer


class TeamEndpoints:
    """The teams routes, mixed into ``GatewayService`` (which provides ``services``)."""

    services: Any

    @route("cases.take")
    def take_case(self, request, principal, case_id):
        body = load_valid_body(TakeBody, json_body(request, allow_empty=True))
        return cases.take(self.services, principal.user, case_id, body)

    @route("teams.list")
    def list_teams(self, request, principal):
        return overview(self.services, principal.user)

    @route("console.teams")
    def teams_page(self, request, principal):
        data = overview(self.services, principal.user)
        return render("teams.html", principal, data=data, names=owner_names(self.services))
