"""The people directory's routes (``GatewayService`` mixes them in): the API over the
cases service's RPC (it owns the directory, docs/cases.md) and the admin page
(``templates/people.html``)."""

from __future__ import annotations

from typing import Any

from nameko.exceptions import RemoteError

from services.common.messaging import contract_event_handler
from services.common.rpc import rpc
from services.gateway.entrypoints import route
from services.gateway.inputs import json_body
from services.gateway.people_logins import PeopleLogins, logins
from services.gateway.views import render


def _people_page(saved: dict | None) -> dict:
    """The page's rows: each person with their channels' names; each team with its members."""
    if saved is None:
        return {"saved": None, "people": [], "teams": []}
    directory = saved["directory"]
    people = [{**p, "reach": sorted(k for k, v in p["channels"].items() if v)} for p in directory["people"]]
    teams = [
        {**t, "members": [p["id"] for p in directory["people"] if t["id"] in p["teams"]]}
        for t in directory["teams"]
    ]
    return {"saved": saved, "people": people, "teams": teams, "strategies": directory["strategies"]}


class PeopleEndpoints:
    """The people routes and who may sign in (``people_logins.py``), mixed into
    ``GatewayService`` (which provides ``services`` and ``store``)."""

    services: Any
    store: Any

    @contract_event_handler("cases", "directory_changed")
    def handle_directory_changed(self, changed: dict) -> None:
        """Give each person's login user the directory's role, teams, language and
        ``login`` flag, unless a later revision is applied already."""
        PeopleLogins(self.store.db).receive(changed["revision"], logins(changed["directory"]))

    @rpc
    def people_revision(self) -> int | None:
        """The people directory revision the gateway's users show (None: none received)."""
        return PeopleLogins(self.store.db).revision()

    @route("people.get")
    def get_people(self, request, principal):
        return self.services.cases.get_people()

    @route("people.save")
    def save_people(self, request, principal):
        return self.services.cases.save_people(json_body(request), principal.user["id"])

    @route("console.people")
    def people_page(self, request, principal):
        agents = self.services.cases.list_agents()["agents"]  # each agent's load beside them
        loads = {a["id"]: a.get("load", 0) for a in agents}
        try:
            saved = self.services.cases.get_people()
        except RemoteError as exc:
            if exc.exc_type != "NotFound":
                raise
            saved = None  # the page says how to save the first one
        return render("people.html", principal, loads=loads, **_people_page(saved))
