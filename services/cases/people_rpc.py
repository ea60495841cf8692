"""The cases service's people-directory entrypoints, a part of ``CasesService``
(``service.py`` composes it): the people directory it owns (``people.py``) and the
agents view assignment reads, with the deprecated agents file."""

from __future__ import annotations

from datetime import UTC, datetime

from services.cases import assignment, people, views
from services.cases.context import Context
from services.common.errors import BadRequest, NotFound
from services.common.mongo import jsonable
from services.common.rpc import Id, rpc

EXPECTED = (BadRequest, NotFound)


class PeopleEntrypoints:
    """Mixed into ``CasesService``, which provides ``context()``."""

    def context(self) -> Context:  # pragma: no cover - the service's
        raise NotImplementedError

    @rpc(expected_exceptions=EXPECTED)
    def save_people(self, document: dict, by: Id = "cxctl") -> dict:
        """Validate the whole people directory and save it as the next revision, then
        announce it (``directory_changed``). Returns ``{revision, people, teams, strategies}``."""
        ctx = self.context()
        saved = ctx.store.policies.save_people(people.load(document), by, ctx.now())
        ctx.dispatch("directory_changed", people.announcement(saved))
        return people.summary(saved)

    @rpc(expected_exceptions=EXPECTED)
    def get_people(self) -> dict:
        """``{revision, changed_at, by, directory}`` as saved (NotFound: none saved yet)."""
        saved = self.context().store.policies.people.current()
        if saved is None:
            raise NotFound("no people directory has been saved (cxctl people apply)")
        changed_at = datetime.fromtimestamp(saved["changed_at"], UTC)
        shown = {k: v for k, v in saved.items() if k != "_id"}
        return jsonable({**shown, "changed_at": changed_at, "directory": people.as_saved(saved["directory"])})

    @rpc(expected_exceptions=EXPECTED)
    def announce_people(self) -> dict:
        """Announce the saved directory again (a reader that lost its projection catches up)."""
        ctx = self.context()
        saved = ctx.store.policies.people.current()
        if saved is None:
            raise NotFound("no people directory has been saved (cxctl people apply)")
        ctx.dispatch("directory_changed", people.announcement(saved))
        return people.summary(saved)

    @rpc(expected_exceptions=EXPECTED)
    def apply_agents(self, document: dict) -> dict:
        """Deprecated (the people directory replaces it): replace the agents/teams/strategies
        directory, validated as a whole; refused once a people directory is saved."""
        return self.context().store.policies.apply_directory(assignment.load_directory(document))

    @rpc
    def list_agents(self) -> dict:
        """The directory, with each agent's current weighted load."""
        return jsonable(views.agents_with_loads(self.context()))

    @rpc(expected_exceptions=EXPECTED)
    def set_shift(self, agent_id: Id, on_shift: bool, by: Id = "cxctl") -> dict:
        """Put an agent on or off shift (strategies skip agents off shift); with a people
        directory this is its next revision, announced like any save."""
        if not isinstance(on_shift, bool):
            raise BadRequest("on_shift: must be true or false")
        ctx = self.context()
        changed = ctx.store.policies.set_shift(agent_id, on_shift, by, ctx.now())
        if changed["saved"] is not None:
            ctx.dispatch("directory_changed", people.announcement(changed["saved"]))
        return jsonable(changed["agent"])
