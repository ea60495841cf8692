"""Cases service: opens one case per customer + topic, assigns it, runs its lifecycle.

Entrypoints only, each one hop from its behaviour: ``intake.py`` (alerts taken in),
``actions.py`` (status changes, assignment, policies applied), ``sweeps.py``
(escalation steps, SLA warnings), ``simulate.py`` (dry run), ``views.py`` (reads);
the playbooks' entrypoints are in ``playbook_rpc.py`` (``playbook_use.py``), the
follow-up (回访) entrypoints in ``followup_entrypoints.py``.
They decide with the pure modules (``lifecycle``, ``assignment``, ``sla``,
``escalation``, ``messages``, ``followup``) and act through a ``context.Context``: the stores
(``store.py``, one per aggregate in ``stores/``), the dispatcher and the clock.
Request validation is in ``schemas.py``. Every status change dispatches
``case_status_changed``.
"""

from __future__ import annotations

from datetime import datetime

from contracts.base import utcnow

# the entrypoint mixins by module: ``nameko run services.cases.service`` runs every class
# with entrypoints it finds in this module, so only CasesService may be one of its names
from services.cases import (
    actions,
    desk_rpc,
    followup_entrypoints,
    incidents,
    intake,
    people_rpc,
    playbook_rpc,
    schemas,
    simulate,
    sweeps,
    views,
)
from services.cases.context import Context
from services.cases.dependencies import CaseStores, EscalationSweep, LoadRecount
from services.cases.store import CaseStore, anonymise_customer
from services.common.batching import contract_batch_handler, handled_once_each
from services.common.config_signal import ConfigSignal
from services.common.errors import BadRequest, NotFound
from services.common.health import HealthServer
from services.common.messaging import ContractDispatcher, contract_event_handler
from services.common.mongo import jsonable
from services.common.privacy import MaskedLogs
from services.common.rpc import Id, Moment, page, rpc

EXPECTED = (BadRequest, NotFound)


class CasesService(
    playbook_rpc.PlaybookEntrypoints,
    followup_entrypoints.FollowupEntrypoints,
    people_rpc.PeopleEntrypoints,
    desk_rpc.DeskEntrypoints,
):
    """The entrypoints below and the mixins': playbooks, follow-ups, the people directory,
    the desk (take it, teams): ``playbook_rpc``, ``followup_entrypoints``, ``people_rpc``, ``desk_rpc``."""

    name = "cases"
    health = HealthServer()  # /livez, /readyz when HEALTH_PORT is set
    masked_logs = MaskedLogs()  # phones, emails, secrets masked in every log record

    store: CaseStore = CaseStores()
    config_signal = ConfigSignal()  # tells the other replicas of config changes
    dispatch = ContractDispatcher()

    # The service's clock; tests replace it to control time.
    def now(self) -> datetime:
        return utcnow()

    def context(self) -> Context:
        """What the use cases act through, from this worker's dependencies."""
        return Context(self.store, self.dispatch, self.now)

    # alert intake -----------------------------------------------------------

    @contract_batch_handler("alerts", "alert_raised")
    @handled_once_each("inbox")
    def handle_alert_raised(self, alerts: list[dict]) -> None:
        """Take in a batch of alerts, in delivery order (one customer's alerts never run
        in two batches at once); their announcements go out together, confirmed once.
        See ``intake.py``: open, attach or reopen; a rule's named owner at once."""
        intake.take_in_and_announce(self.context(), alerts)

    # timers ------------------------------------------------------------------

    @EscalationSweep.decorator
    def sweep_escalations(self) -> int:
        """Fire every due escalation step (claimed atomically; see escalation.py)."""
        return sweeps.sweep_escalations(self.context())

    @EscalationSweep.decorator
    def sweep_sla_warnings(self) -> int:
        """Warn owners of cases past their pre-breach warning time (see sweeps.py)."""
        return sweeps.sweep_sla_warnings(self.context())

    @EscalationSweep.decorator
    def sweep_incident_resolutions(self) -> int:
        """Finish resolving the children of incidents whose resolver died (incidents.py)."""
        return incidents.sweep_children_resolutions(self.context())

    @LoadRecount.decorator(eager=True)  # at start, then every LOAD_RECOUNT_SECONDS
    def recount_loads_on_timer(self) -> dict:
        """The recount, at start and every ``LOAD_RECOUNT_SECONDS``."""
        return self.recount_loads()

    # RPC: dry run -------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def simulate_alert(self, alert: dict, now: Moment | None = None) -> dict:
        """What the service would do with an ``alert_raised`` payload, writing nothing.

        The explain/dry-run of the open key, the assignment strategies and the
        SLA and escalation policies: returns ``{"action": "open" | "attach" |
        "reopen", "case_id" (the existing case, else None), "case_key",
        "assignee", "assignment": {"strategy", "explanation": [...]}, "sla":
        {"policy", "version", "calendar", "ack_due", "resolve_due", "warn_at",
        "warnings"} | None, "escalation": [{"round", "step", "notify", "due",
        "fires_at", "targets"}], "notifications": [notification_requested
        payloads, as dispatched]}``. Only reads: round-robin counters and agent
        loads are peeked, not moved. ``now`` (ISO-8601 with offset) defaults to
        the service's clock.
        """
        alert = schemas.load_alert({"schema_version": 1, **alert} if isinstance(alert, dict) else alert)
        moment = schemas.load_moment("now", now) or self.now()
        return simulate.simulate_alert(self.context(), alert, moment)

    # RPC: assignment and collaboration ----------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def assign(self, request: dict) -> dict:
        """Give a case an owner (person or team); notifies the new owner."""
        r = schemas.load(schemas.AssignRequest, request)
        reason = r["reason"] or "assigned"
        return jsonable(
            actions.assign(self.context(), r["case_id"], r["assignee"], by=r["by"], reason=reason)
        )

    @rpc(expected_exceptions=EXPECTED)
    def reassign(self, request: dict) -> dict:
        """Hand a case over to another owner; the handoff reason is required."""
        r = schemas.load(schemas.ReassignRequest, request)
        return jsonable(
            actions.assign(
                self.context(), r["case_id"], r["assignee"], by=r["by"], reason=r["reason"], handoff=True
            )
        )

    @rpc(expected_exceptions=EXPECTED)
    def add_collaborator(self, request: dict) -> dict:
        """Add a collaborator (协作人) with a role; notifies them."""
        r = schemas.load(schemas.CollaboratorRequest, request)
        return jsonable(actions.add_collaborator(self.context(), r))

    @rpc(expected_exceptions=EXPECTED)
    def comment(self, request: dict) -> dict:
        """Add an internal or customer-facing comment."""
        r = schemas.load(schemas.CommentRequest, request)
        return jsonable(actions.comment(self.context(), r))

    # RPC: status changes ------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def acknowledge(self, request: dict) -> dict:
        """The owner confirms they have taken the case (stops the acknowledge clock)."""
        r = schemas.load(schemas.ActionRequest, request)
        return jsonable(actions.acknowledge(self.context(), r["case_id"], by=r["by"], why=r["reason"]))

    @rpc(expected_exceptions=EXPECTED)
    def start(self, request: dict) -> dict:
        """Work begins (in_progress); acknowledges the case if it was not yet."""
        r = schemas.load(schemas.ActionRequest, request)
        return jsonable(actions.start(self.context(), r["case_id"], by=r["by"], why=r["reason"]))

    @rpc(expected_exceptions=EXPECTED)
    def pending_customer(self, request: dict) -> dict:
        """Waiting for the customer (the SLA clocks pause)."""
        return self._move(request, "pending_customer")

    @rpc(expected_exceptions=EXPECTED)
    def resume(self, request: dict) -> dict:
        """The customer answered: back to in_progress (the SLA clocks run again)."""
        return self._move(request, "resume")

    @rpc(expected_exceptions=EXPECTED)
    def resolve(self, request: dict) -> dict:
        """Resolve with a root-cause category and the first-contact-resolution flag."""
        return jsonable(actions.resolve(self.context(), schemas.load(schemas.ResolveRequest, request)))

    @rpc(expected_exceptions=EXPECTED)
    def resolve_incident(self, request: dict) -> dict:
        """Resolve an incident; ``resolve_children: true`` resolves each open child through
        ``resolve`` too (idempotent: again finishes what is left). See incidents.py."""
        r = schemas.load(schemas.ResolveIncidentRequest, request)
        return jsonable(incidents.resolve_incident(self.context(), r))

    @rpc(expected_exceptions=BadRequest)
    def list_incidents(self, limit: int = 50, skip: int = 0, status: Id | None = None) -> list[dict]:
        """Incidents by level, newest first, each with ``child_counts``; ``status``: a
        case status or ``active``."""
        if status is not None and status not in schemas.INCIDENT_STATUSES:
            raise BadRequest(f"status: must be one of {', '.join(schemas.INCIDENT_STATUSES)}")
        limit, skip = page(limit, skip)
        return jsonable(incidents.list_incidents(self.context(), limit=limit, skip=skip, status=status))

    @rpc(expected_exceptions=EXPECTED)
    def reopen(self, request: dict) -> dict:
        """Reopen a resolved case (reason required); counts towards the reopen rate."""
        r = schemas.load(schemas.ReopenRequest, request)
        return jsonable(actions.reopen(self.context(), r["case_id"], by=r["by"], why=r["reason"]))

    @rpc(expected_exceptions=EXPECTED)
    def close(self, request: dict) -> dict:
        """Close a resolved case for good (a later alert opens a new case)."""
        return self._move(request, "close")

    def _move(self, request: dict, action: str) -> dict:
        """A status change that writes nothing else (an ``ActionRequest``)."""
        r = schemas.load(schemas.ActionRequest, request)
        return jsonable(actions.transition(self.context(), r["case_id"], action, by=r["by"], why=r["reason"]))

    @rpc
    def recount_loads(self) -> dict:
        """Recount every agent's load from the active cases (drift after a crash):
        ``{"cases_fixed": n, "loads_changed": {agent: [before, after]},
        "charges_dropped": n, "busy": [agents]}``. Safe while cases are assigned: an
        agent with a charge or a load move younger than ``LOAD_SETTLE_SECONDS`` is
        left for the next run (``busy``; ``AgentLoads.recount_loads`` says why)."""
        return actions.recount_loads(self.context())

    # RPC: SLA and escalation policies --------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def apply_sla_policy(self, document: dict, apply_to_open_cases: bool = False) -> dict:
        """Save a new SLA policy version. Open cases keep their snapshot unless
        ``apply_to_open_cases`` re-applies it to them (time already used is kept)."""
        return actions.apply_sla_policy(self.context(), document, apply_to_open_cases)

    @rpc(expected_exceptions=EXPECTED)
    def get_sla_policy(self, policy_id: Id = "default") -> dict:
        return jsonable(_found(self.store.policies.sla_policy(policy_id), f"no SLA policy {policy_id}"))

    @rpc(expected_exceptions=EXPECTED)
    def reapply_sla(self, request: dict) -> dict:
        """Re-snapshot one case onto the current SLA policy."""
        r = schemas.load(schemas.ActionRequest, request)
        why = r["reason"] or "SLA policy re-applied"
        return jsonable(actions.reapply_sla(self.context(), r["case_id"], by=r["by"], why=why))

    @rpc(expected_exceptions=EXPECTED)
    def apply_escalation_policy(self, document: dict, apply_to_open_cases: bool = False) -> dict:
        """Save a new escalation policy version. Open cases keep their snapshot unless
        ``apply_to_open_cases``: then their pending steps are replaced by the new chain,
        counted from now."""
        return actions.apply_escalation_policy(self.context(), document, apply_to_open_cases)

    @rpc(expected_exceptions=EXPECTED)
    def get_escalation_policy(self, policy_id: Id = "default") -> dict:
        stored = self.store.policies.escalation_policy(policy_id)
        return jsonable(_found(stored, f"no escalation policy {policy_id}"))

    # RPC: reads ----------------------------------------------------------------

    @rpc(expected_exceptions=EXPECTED)
    def get_case(self, case_id: Id, visible_to: dict | None = None) -> dict:
        """One case with its alerts, comments and audit trail.

        ``visible_to`` (``{"user_id", "role", "teams"}``, see ``list_cases``):
        a case that viewer may not see raises NotFound, as if it did not exist.
        """
        viewer = schemas.load_visible_to(visible_to)
        return jsonable(views.case_view(self.context(), case_id, viewer))

    @rpc(expected_exceptions=BadRequest)
    def list_cases(
        self,
        limit: int = 50,
        skip: int = 0,
        status: Id | None = None,
        assignee: Id | None = None,
        level: Id | None = None,
        customer: Id | None = None,
        breach: Id | None = None,
        touchpoint: Id | None = None,
        visible_to: dict | None = None,
        with_total: bool = False,
    ) -> list[dict] | dict:
        """Cases by urgency (level), newest first, filtered in the database.

        Filters: ``status``, ``assignee`` (owner id), ``level``, ``customer``,
        ``touchpoint``, ``breach`` (``ack_breached`` / ``resolve_breached`` /
        ``breached`` = either / ``at_risk`` (alias ``warning``) / ``none``).

        ``visible_to={"user_id", "role", "teams": [...]}`` restricts the list to
        what that viewer may see: role ``agent`` sees cases assigned to them,
        assigned to one of their teams, cases they collaborate on, and unassigned
        cases of one of their teams (or of no known team); ``owner`` and
        ``admin`` see every case. The restriction is part of the query, so
        ``skip``/``limit`` page through visible cases only.

        Returns the page (a list), or with ``with_total`` the page and the
        number of matching cases: ``{"items", "total", "limit", "skip"}``.
        """
        limit, skip = page(limit, skip)
        found = self.store.queries.list_cases(
            limit=limit, skip=skip, now=self.now(), with_total=bool(with_total), status=status,
            assignee=assignee, level=level, customer=customer, breach=breach, touchpoint=touchpoint,
            visible_to=schemas.load_visible_to(visible_to),
        )  # fmt: skip
        if with_total:
            rows, total = found
            return jsonable({"items": rows, "total": total, "limit": limit, "skip": skip})
        return jsonable(found)

    @rpc(expected_exceptions=BadRequest)
    def queue(self, request: dict) -> dict:
        """The console's queue: one page of a saved view with its total and every view's
        count (request and views: ``services/cases/queue.py``)."""
        return jsonable(views.queue_page(self.context(), request))

    @rpc(expected_exceptions=BadRequest)
    def metrics(self, request: dict) -> dict:
        """MTTA, MTTR, SLA breach rate, reopen rate and FCR for the cases opened in a period.

        ``request``: ``{"since": ISO, "until": ISO (default now), "group_by":
        null | "team" | "level" | "touchpoint" | "owner", "also": [more groupings],
        "assignee": id (only the cases they own now)}``; datetimes need a UTC offset.
        Returns ``{"since", "until", "as_of", "group_by", "overall": M, "groups":
        [{"key", **M}]}``, and ``"also": {grouping: groups}``. Cases count when *opened* in
        ``[since, until)``, measured as of now (``as_of``); MTTA/MTTR are wall-clock seconds,
        breaches the business-time SLA clocks'. ``M``: ``services/cases/metrics.py``.
        """
        r = schemas.load(schemas.MetricsRequest, request)
        return jsonable(views.period_metrics(self.context(), r))

    @rpc
    def stats(self) -> dict:
        return self.store.stats()

    @contract_event_handler("profiles", "customer_erased")
    def handle_customer_erased(self, erased: dict) -> None:
        """Anonymise the erased customer (and the ids merged into them) here; idempotent."""
        anonymise_customer(self.store.db, erased["customer_ids"])


def _found(stored: dict | None, missing: str) -> dict:
    if stored is None:
        raise NotFound(missing)
    return stored
