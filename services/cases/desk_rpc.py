"""The cases service's entrypoints for an agent's desk, a part of ``CasesService``
(``service.py`` composes it): "take it" as one atomic assignment (``actions.take``)
and the teams overview (``teams.py``)."""

from __future__ import annotations

from services.cases import actions, schemas
from services.cases.context import Context
from services.common.errors import BadRequest, Conflict, NotFound
from services.common.mongo import jsonable
from services.common.rpc import rpc


class DeskEntrypoints:
    """Mixed into ``CasesService``, which provides ``context()``."""

    def context(self) -> Context:  # pragma: no cover - the service's
        raise NotImplementedError

    @rpc(expected_exceptions=(BadRequest, NotFound, Conflict))
    def take_case(self, request: dict) -> dict:
        """ "Take it": ``{case_id, taker: {user_id, role, teams}, seen, reason}``. The case
        becomes the taker's in one conditional update, if they may see it and its owner
        is still ``seen`` (the owner key they saw, "" when unassigned); otherwise
        Conflict (someone else changed the owner first) and nothing is written. The
        winner's assignment is an ordinary one (audit, status change, ``case_assigned``,
        notification, loads)."""
        r = schemas.load(schemas.TakeRequest, request)
        return jsonable(actions.take(self.context(), r["case_id"], r["taker"], r["seen"], r["reason"]))
