"""The cases service's playbook entrypoints (标准解决方案), a part of ``CasesService``
(``service.py`` composes it): saved and read by admins, suggested for a case and used
on it by agents, measured per playbook. Each is one hop from ``playbook_use.py``."""

from __future__ import annotations

from marshmallow import fields

from contracts.base import bounded_str, id_str
from services.cases import playbook_use, schemas
from services.cases.context import Context
from services.common.errors import BadRequest, NotFound
from services.common.lexicon import LiveLexicon
from services.common.mongo import jsonable
from services.common.rpc import Id, rpc
from services.common.validation import StrictSchema, load_valid

EXPECTED = (BadRequest, NotFound)


class SaveRequest(StrictSchema):
    by = id_str(128, required=True, metadata={"description": "who saves it (admin id)"})
    why = bounded_str(2000, load_default=None, allow_none=True)
    playbook = fields.Dict(required=True)


class PlaybookEntrypoints:
    """Mixed into ``CasesService``, which provides ``context()``. ``text`` follows the
    admin's lexicon so that a playbook may name an aspect code added live."""

    text = LiveLexicon(warm_up=False)

    def context(self) -> Context:  # pragma: no cover - the service's
        raise NotImplementedError

    @rpc(expected_exceptions=EXPECTED)
    def save_playbook(self, request: dict) -> dict:
        """Validate and save a playbook as a new version (``{"by", "why", "playbook"}``);
        an unchanged playbook keeps its version. Returns ``{"id", "version", "changed"}``."""
        r = load_valid(SaveRequest, request, shape="must be an object {by, why, playbook}")
        return playbook_use.save(self.context(), r["playbook"], by=r["by"], why=r["why"])

    @rpc
    def playbooks_naming_aspect(self, code: str) -> list[str]:
        """The ids of the saved playbooks (enabled or not) whose match names aspect ``code``."""
        playbooks = self.context().store.playbooks.all()
        return sorted(p["id"] for p in playbooks if code in p["match"].get("aspects", []))

    @rpc
    def list_playbooks(self) -> list[dict]:
        """Every playbook's current version, by id."""
        return jsonable(self.context().store.playbooks.all())

    @rpc(expected_exceptions=EXPECTED)
    def get_playbook(self, playbook_id: Id) -> dict:
        """One playbook's current version with every version (who, when, why)."""
        return jsonable(playbook_use.show(self.context(), playbook_id))

    @rpc(expected_exceptions=EXPECTED)
    def suggest_playbooks(self, case_id: Id, visible_to: dict | None = None, limit: int = 5) -> dict:
        """The playbooks that fit a case, best first, with why and the reply filled."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 20:
            raise BadRequest("limit: must be an integer from 1 to 20")
        viewer = schemas.load_visible_to(visible_to)
        return jsonable(playbook_use.suggestions(self.context(), case_id, viewer, limit))

    @rpc(expected_exceptions=EXPECTED)
    def use_playbook(self, request: dict) -> dict:
        """Use a playbook on a case (``playbook_use.UseRequest``): the reply filled,
        recorded, and with ``send`` sent to the customer; once per ``use_id``."""
        return jsonable(playbook_use.use(self.context(), request))

    @rpc(expected_exceptions=EXPECTED)
    def playbook_metrics(self, request: dict) -> dict:
        """Per playbook over its uses in ``[since, until)``: uses, resolution time,
        reopen rate and post-resolution CSAT (``playbook_use.metrics``)."""
        r = schemas.load(schemas.MetricsRequest, request)
        if r["group_by"] is not None:
            raise BadRequest("group_by: playbook metrics are grouped by playbook")
        return jsonable(playbook_use.metrics(self.context(), r["since"], r["until"]))
