"""The topology floor (issue 16): our message flow with handlers that only parse,
validate and dispatch, i.e. what nameko + RabbitMQ alone allow this flow on this machine.

    nameko run --config deploy/config.yaml bench.floor:AlertsFloor   # one per service

Each floor service is built from the real service class (``services/<name>/service.py``):
same service name, and every method that consumes from the broker (the feedback
consumers and the event handlers, batched or not) is mirrored under the same method
name with the same entrypoint objects, so the floor declares the same exchanges and
queues, binds the same routing keys, takes batches where the real service does and
publishes through the same ``ContractDispatcher`` (contract-checked, confirmed once per
batch). When a real handler changes its entrypoint (a handler made a batch handler),
the floor follows without an edit here. RPC, timers and HTTP are left out: the
benchmark sends no RPC during a burst and timers carry no message.

What a floor handler does instead of the real work (no store, no rule, no template):
``REACTIONS`` maps (service, consumed message) to the messages the real service
dispatches for a benchmark event, built from the incoming message with the same pure
payload builders (``alert_message``, ``new_case``) and, for cases and notify, the real
service's own announcing methods on a store-less instance (``announcer``); anything not
listed is consumed and acked. ``BATCH_REACTIONS`` do the same for a whole batch where
the real handler announces something per batch (cases' ``alerts_taken_in``). notify
POSTs the signed generic webhook through the
real channel (``services/notify/channels/webhook``) to ``BENCH_WEBHOOK_URL`` with
``BENCH_WEBHOOK_SECRET``, so "webhook delivered" is measured as for ours.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from nameko.events import EventHandler
from nameko.extensions import register_entrypoint

from bench.pipeline import BENCH_RULE
from contracts.base import utcnow
from services.alerts.evaluate import alert_id_for, event_summary
from services.alerts.service import AlertsService, alert_message
from services.cases.context import Context
from services.cases.intake import telling_taken_in
from services.cases.lifecycle import assignee_key, new_case, open_key
from services.cases.service import CasesService
from services.common.feedback import FeedbackConsumer
from services.common.messaging import ContractDispatcher
from services.notify.channels.base import Destination, Note
from services.notify.dependencies import Channels
from services.notify.service import NotifyService
from services.profiles.profile import feedback_key
from services.profiles.service import ProfilesService

FEEDBACK = "feedback"  # what a feedback consumer's messages are called in REACTIONS
# The benchmark's one rule, at its first version: every benchmark event matches it.
RULE = {"id": BENCH_RULE["id"], "version": 1, "name": BENCH_RULE["name"]}


def consumed(entrypoint) -> str | None:
    """What a real entrypoint consumes: "feedback", an event type, or None (RPC, timer…)."""
    if isinstance(entrypoint, FeedbackConsumer):
        return FEEDBACK
    if isinstance(entrypoint, EventHandler):
        return entrypoint.event_type
    return None


def consumers_of(real: type) -> dict[str, list]:
    """The real service's broker-consuming methods: name → their entrypoint objects."""
    out = {}
    for name, member in vars(real).items():
        entrypoints = [e for e in getattr(member, "nameko_entrypoints", ()) if consumed(e)]
        if entrypoints:
            out[name] = entrypoints
    return out


# -- what each floor handler dispatches ---------------------------------------------


def raise_alert(service, event: dict) -> None:
    """alerts: every benchmark event matches the benchmark rule; announce its alert."""
    alert = {
        "_id": alert_id_for(RULE["id"], event),
        "raised_at": utcnow(),
        "level": BENCH_RULE["level"],
        "rule": RULE,
        "owner": BENCH_RULE["owner"],
        "channels": ["webhook"],
        "customer": {k: event["customer"][k] for k in ("id", "name", "tier") if k in event["customer"]},
        "event": event_summary(event),
        "trace": [],
        "facts": {},
        "dedup": {"key": None},
    }
    service.dispatch("alert_raised", alert_message(alert))


def update_profile(service, event: dict) -> None:
    """profiles: one ``profile_updated`` per feedback event, as the real handler."""
    scores = {k: v for k, v in (event.get("scores") or {}).items() if isinstance(v, int)}
    service.dispatch(
        "profile_updated",
        {
            "customer_id": event["customer"]["id"],
            "cause": {"kind": "feedback", "key": feedback_key(event)},
            "updated_at": utcnow(),
            "feedback_count": 1,
            "latest_scores": scores,
        },
    )


def announcer(real: type, service):
    """An instance of the real service class whose dispatches go to the floor service's
    dispatcher: its announcing methods build the real payloads (they touch no store)."""
    instance = real()
    instance.dispatch = service.dispatch
    return instance


def open_and_assign(service, alerts: list[dict]) -> None:
    """cases: for each alert a new case, assigned at once to its owner, announced by the
    real service's own methods in the order its intake uses (the assignment, then the
    opening that carries it); then the batch's ``alerts_taken_in`` for profiles, as the
    real intake tells it (``intake.telling_taken_in``)."""

    def take(cases: Context, batch: list[dict]) -> None:
        for alert in batch:
            _open_and_assign(cases, alert)

    telling_taken_in(Context(None, service.dispatch, utcnow), alerts, take)  # type: ignore[arg-type]  # no store


def _open_and_assign(cases: Context, alert: dict) -> None:
    now = utcnow()
    owner, reason = alert["owner"], f"owner of rule {alert['rule']['id']}"
    case = new_case(alert, now, open_key(alert)) | {
        "status": "assigned",
        "assignee": owner,
        "assignee_key": assignee_key(owner),
        "assignment": {"at": now, "by": "system", "reason": reason, "previous": None, "rev": 1},
        "rev": 1,
    }
    cases.announce_assignment(case, by="system", reason=reason)
    cases.announce_opened(case)


def send_webhook(service, request: dict) -> None:
    """notify: the signed generic webhook through the real channel, then its outcome."""
    handle = {"url": os.environ["BENCH_WEBHOOK_URL"], "secret": os.environ["BENCH_WEBHOOK_SECRET"]}
    context = request["context"]
    delivery = {**request, "_id": f"{request['notification_id']}:webhook", "channel": "webhook"}
    note = Note(
        delivery_id=delivery["_id"],
        kind=request["kind"],
        level=request["level"],
        language="zh-CN",
        title=str(context.get("title", "")),
        body="",
        text="",
        url=context.get("case_url"),
        case_id=request.get("case_id"),
        facts=context,
    )
    outcome = service.channels["webhook"].deliver(note, Destination(handle), time.time())
    announcer(NotifyService, service)._announce(delivery, outcome, 1)


REACTIONS: dict[tuple[str, str], Callable] = {
    ("alerts", FEEDBACK): raise_alert,
    ("profiles", FEEDBACK): update_profile,
    ("notify", "notification_requested"): send_webhook,
}
# reactions to a whole batch (the real handler announces something per batch)
BATCH_REACTIONS: dict[tuple[str, str], Callable] = {
    ("cases", "alert_raised"): open_and_assign,
}


# -- the floor services -------------------------------------------------------------


def mirrored(
    method_name: str, entrypoints: list, react: Callable | None, react_to_batch: Callable | None = None
) -> Callable:
    """A handler named and wired like the real one: a batch entrypoint hands it a list."""

    def handle(self, received) -> None:
        messages = received if isinstance(received, list) else [received]
        if react_to_batch is not None:
            react_to_batch(self, messages)
        if react is None:
            return
        for message in messages:
            react(self, message)

    handle.__name__ = handle.__qualname__ = method_name
    for entrypoint in entrypoints:  # unbound prototypes: each container binds its own copy
        register_entrypoint(handle, entrypoint)
    return handle


def floor_of(real: type) -> type:
    """The floor service of a real service class."""
    attributes: dict = {"name": real.name, "dispatch": ContractDispatcher()}
    if real.name == "notify":
        attributes["channels"] = Channels()
    for method_name, entrypoints in consumers_of(real).items():
        (kind,) = {consumed(e) for e in entrypoints}
        attributes[method_name] = mirrored(
            method_name, entrypoints, REACTIONS.get((real.name, kind)), BATCH_REACTIONS.get((real.name, kind))
        )
    return type(f"{real.__name__.removesuffix('Service')}Floor", (), attributes)


AlertsFloor = floor_of(AlertsService)
ProfilesFloor = floor_of(ProfilesService)
CasesFloor = floor_of(CasesService)
NotifyFloor = floor_of(NotifyService)
FLOORS = {cls.name: cls for cls in (AlertsFloor, ProfilesFloor, CasesFloor, NotifyFloor)}


def module_of(service: str) -> str:
    """What ``nameko run`` is given for a floor service."""
    return f"bench.floor:{FLOORS[service].__name__}"


def consumer_count() -> int:
    """Queue consumers the four floor services hold once started (one per mirrored method)."""
    return sum(len(consumers_of(cls)) for cls in FLOORS.values())
