"""The cases service's entrypoints for an agent's desk, a part of ``CasesService``
(``service.py`` composes it): "take it" as one atomic assignment (``actions.take``)
and the teams overview (``teams.py``)."""

from __future__ import annotations

from services.cases import actions, schemas, teams
from services.cases.context import Context
from services.common.errors import BadRequest, Conflict, NotFound
from services.common.mongo import jsonable
from services.common.rpc import rpc
from services.common.validation import load_valid

MAX_SOON_MINUTES = 7 * 24 * 60


class DeskEntrypoints:
    """Mixed into ``CasesService``, which provides ``context()``."""

    def context(self) -> Context:  # pragma: no cover - the service's
        raise NotImplementedError

    @rpc(expected_exceptions=(BadRequest, NotFound, Conflict))
    def take_case(self, request: dict) -> dict:
        """Take it: ``{case_id, taker: {user_id, role, teams}, seen, reason}``. The case
        becomes the taker's in one conditional update, if they may see it and its owner
        is still ``seen`` (the owner key they saw, "" when unassigned); otherwise
        Conflict (someone else changed the owner first) and nothing is written. The
        winner's assignment is an ordinary one (audit, status change, ``case_assigned``,
        notification, loads)."""
        r = schemas.load(schemas.TakeRequest, request)
        return jsonable(actions.take(self.context(), r["case_id"], r["taker"], r["seen"], r["reason"]))

    @rpc(expected_exceptions=BadRequest)
    def teams_overview(self, viewer: dict, soon_minutes: int = 60) -> dict:
        """The teams ``viewer`` ({user_id, role, teams}) may see, each with its lead, its
        members (on shift, open cases, load), open cases, cases waiting in its queue and
        breaching cases (due within ``soon_minutes`` or overdue); see ``teams.py``."""
        if not 1 <= soon_minutes <= MAX_SOON_MINUTES:
            raise BadRequest(f"soon_minutes: 1 to {MAX_SOON_MINUTES}")
        shape = "must be an object {user_id, role, teams}"
        loaded = load_valid(schemas.VisibleTo, viewer, shape=shape, field="viewer")
        return jsonable(teams.overview(self.context(), loaded, soon_minutes))
