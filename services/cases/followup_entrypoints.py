"""The cases service's follow-up (回访) entrypoints, mixed into ``CasesService``: the
sweep of due follow-ups, the survey answers, notify's outcomes and the RPCs.

Entrypoints only, each one hop from its behaviour (``followups.py``,
``followup_answers.py``; decided by the pure ``followup.py``).
"""

from __future__ import annotations

from services.cases import followup, followup_answers, followups, schemas
from services.cases.context import Context
from services.cases.dependencies import EscalationSweep, FollowupAnswers
from services.cases.store import CaseStore
from services.common.errors import BadRequest, NotFound
from services.common.messaging import contract_event_handler
from services.common.mongo import jsonable
from services.common.rpc import Id, rpc

EXPECTED = (BadRequest, NotFound)


class FollowupEntrypoints:
    """Follow-up entrypoints; the service class provides ``context()`` and ``store``."""

    store: CaseStore

    def context(self) -> Context:
        raise NotImplementedError  # CasesService.context

    @EscalationSweep.decorator
    def sweep_followups(self) -> int:
        """Fire every due follow-up: a survey request or a follow-up task (followups.py)."""
        return followups.sweep(self.context())

    @FollowupAnswers.decorator
    def handle_followup_answer(self, event: dict) -> None:
        """A follow-up survey answer (``feedback.<channel>.followup`` only: the cases
        service never receives the ordinary feedback stream)."""
        followup_answers.take_answer(self.context(), event)

    @contract_event_handler("notify", "customer_message_outcome")
    def handle_customer_message_outcome(self, outcome: dict) -> None:
        """Sent or refused (with its reason): recorded on the follow-up or the reply."""
        followups.record_outcome(self.context(), outcome)

    @rpc(expected_exceptions=EXPECTED)
    def apply_followup_policy(self, document: dict) -> dict:
        """Save a new follow-up policy version (validated; errors name the field)."""
        sla_policy = (self.store.policies.sla_policy() or {}).get("policy") or {}
        policy = followup.load_policy(document, [c["id"] for c in sla_policy.get("calendars", ())])
        version, changed = self.store.policies.apply_followup_policy(policy)
        return {"id": policy["id"], "version": version, "changed": changed}

    @rpc(expected_exceptions=EXPECTED)
    def get_followup_policy(self, policy_id: Id = "default") -> dict:
        stored = self.store.policies.followup_policy(policy_id)
        if stored is None:
            raise NotFound(f"no follow-up policy {policy_id}")
        return jsonable(stored)

    @rpc(expected_exceptions=EXPECTED)
    def list_followups(self, request: dict | None = None) -> list[dict]:
        """Follow-up tasks (``FollowupListRequest``): ``assignees`` (people and teams),
        ``state`` (open | done | all), ``overdue``, ``limit``, ``skip``; soonest due
        first, each with ``overdue`` (an open task past its due time)."""
        return followups.tasks(self.context(), schemas.load(schemas.FollowupListRequest, request or {}))

    @rpc(expected_exceptions=EXPECTED)
    def followup_done(self, request: dict) -> dict:
        """An agent did the follow-up task (``FollowupDoneRequest``), with the customer's
        answer when they gave one (it counts as the survey answer)."""
        r = schemas.load(schemas.FollowupDoneRequest, request)
        return followup_answers.complete_task(self.context(), r)

    @rpc(expected_exceptions=EXPECTED)
    def followup_reply_unreadable(self, request: dict) -> dict:
        """A customer's reply to the survey that answers no score (``UnreadableReplyRequest``):
        audited, and the owner's task while the survey waits (docs/cases.md "Follow-up")."""
        r = schemas.load(schemas.UnreadableReplyRequest, request)
        return followup_answers.unreadable_reply(self.context(), r)

    @rpc(expected_exceptions=EXPECTED)
    def get_followup(self, case_id: Id) -> dict:
        """The latest follow-up of a case (its message, outcome, task and answer)."""
        found = self.store.followups.latest_for_case(case_id)
        if found is None:
            raise NotFound(f"no follow-up for case {case_id}")
        return jsonable(followup.presented(found, self.context().now()))

    @rpc(expected_exceptions=EXPECTED)
    def survey_for_code(self, code: str) -> dict:
        """The survey token of a reply code (the gateway's short form): ``{token, state}``."""
        if not isinstance(code, str) or not 4 <= len(code.strip()) <= 16:
            raise BadRequest("code: 4 to 16 characters")
        return followups.survey_for_code(self.context(), code)
