"""Follow-up with the customer (回访) applied: scheduled on resolution, fired by the
sweep, answered through the survey, recorded from notify's outcomes, done as tasks.

The decisions are pure (``followup.py``: the policy, the due time, what a due
follow-up does); this module applies them through the stores and announces them
(``customer_message_requested``, the notifications of follow-up tasks). What an
answer does to the case is in ``followup_answers.py``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from datetime import UTC, datetime

from services.cases import followup
from services.cases.context import Context
from services.cases.stores.followups import outcome_entry
from services.common import settings
from services.common import survey_links as links
from services.common.errors import NotFound
from services.common.mongo import jsonable

log = logging.getLogger(__name__)
PER_SWEEP = 200  # follow-ups fired per sweep; the next sweep continues


# scheduling ------------------------------------------------------------------------------


def schedule_after_resolve(ctx: Context, case: dict, resolved_at: datetime) -> dict | None:
    """Schedule the follow-up of a case just resolved, when the policy has a rule for it."""
    stored = ctx.store.policies.followup_policy()
    rule = followup.match(stored and stored["policy"], case)
    if stored is None or rule is None:
        return None
    calendar = calendar_for(ctx, rule, case)
    fu = followup.new_followup(case, rule, stored["policy"], stored["version"], calendar, resolved_at)
    ctx.store.followups.schedule(fu)
    why = f"follow-up by {rule['by']} due {fu['due_at'].isoformat()} (rule {rule['name']}, {calendar.id})"
    ctx.store.trail.audit(
        case["_id"], "followup_scheduled", "system", why, detail={"followup_id": fu["_id"]},
        key=f"{fu['_id']}:scheduled", at=resolved_at,
    )  # fmt: skip
    return fu


def calendar_for(ctx: Context, rule: dict, case: dict):
    """The calendar ``rule`` counts business hours on, with the current SLA policy's calendars."""
    return followup.calendar_for(rule, case, (ctx.store.policies.sla_policy() or {}).get("policy"))


def cancel_pending(ctx: Context, case_id: str, why: str) -> None:
    ctx.store.followups.cancel_pending(case_id, why)


# the sweep -------------------------------------------------------------------------------


def sweep(ctx: Context) -> int:
    """Fire every due follow-up (claimed atomically with a lease, like escalation steps)."""
    worker = uuid.uuid4().hex
    lease = float(settings.get("ESCALATION_LEASE_SECONDS"))
    fired = 0
    for _ in range(PER_SWEEP):
        fu = ctx.store.followups.claim(ctx.now().timestamp(), worker, lease)
        if fu is None:
            break
        fire(ctx, fu, worker)
        fired += 1
    return fired


def fire(ctx: Context, fu: dict, worker: str) -> None:
    """Decide a claimed follow-up on the case as it is now, and apply the decision."""
    now = ctx.now()
    case = ctx.store.cases.get_case(fu["case_id"])
    calendar = calendar_for(ctx, fu["rule"], case or {})
    decision = followup.decide(fu, case, now, calendar)
    match decision:
        case followup.Cancel(why=why):
            ctx.store.followups.finish(fu["_id"], worker, "cancelled", cancelled=why)
        case followup.Send() if case is not None and settings.get("SURVEY_SECRET"):
            send_survey(ctx, fu, case, worker, now)
        case followup.Send() if case is not None:  # no key to sign the link: not lost, a task
            log.error("SURVEY_SECRET is not set: the survey of %s becomes its owner's task", fu["case_id"])
            why = "no survey link could be signed (SURVEY_SECRET is not set); follow up in person"
            owner = {**fu, "rule": {**fu["rule"], "by": "owner"}}
            open_task(ctx, fu, case, worker, followup.task_for(owner, case, now, calendar, why), now)
        case followup.Task() if case is not None:
            open_task(ctx, fu, case, worker, decision, now)


def open_task(ctx: Context, fu: dict, case: dict, worker: str, task: followup.Task, now: datetime) -> None:
    if ctx.store.followups.finish(fu["_id"], worker, "task", task=task_doc(task, now)):
        announce_task(ctx, fu, case, task, now)


def survey_token(fu: dict, case: dict) -> tuple[str, links.SurveyClaims]:
    """The survey link's token. The nonce is derived from the follow-up's id and the
    expiry from its due time, so a follow-up fired again after a crash requests the very
    same message (notify drops the copy)."""
    secret, rule = settings.get("SURVEY_SECRET"), fu["rule"]
    if not secret:
        raise RuntimeError("SURVEY_SECRET is not configured: follow-up surveys cannot be signed")
    nonce = hmac.new(secret.encode(), f"nonce:{fu['_id']}".encode(), hashlib.sha256).hexdigest()[:22]
    expires = int(fu["due_epoch"] + rule["link_valid_hours"] * 3600)
    customer = case["customer"]["id"]
    claims = links.SurveyClaims(case["_id"], customer, expires, nonce, rule["survey"], rule["language"])
    return links.sign(secret, claims), claims


def survey_message(fu: dict, case: dict, now: datetime) -> tuple[dict, dict]:
    """(``customer_message_requested``, what the follow-up records)."""
    rule = fu["rule"]
    token, claims = survey_token(fu, case)
    base = (settings.get("SURVEY_BASE_URL") or settings.get("CONSOLE_URL")).rstrip("/")
    nonce, code = claims.nonce, links.reply_code(settings.get("SURVEY_SECRET"), claims.nonce)
    expires_at = datetime.fromtimestamp(claims.expires_epoch, tz=UTC)
    message = {
        "message_id": f"{fu['_id']}:survey",
        "requested_at": now,
        "purpose": "followup_survey",
        "customer_id": case["customer"]["id"],
        "channels": rule["channels"],
        "case_id": case["_id"],
        "language": rule["language"],
        "not_after": expires_at,
        "context": jsonable({
            "survey_url": f"{base}/survey/{token}", "reply_code": code, "scale": rule["survey"],
            "case_title": case["title"], "customer_name": case["customer"].get("name"),
            "expires_at": expires_at,
        }),
    }  # fmt: skip
    record = {
        "nonce": nonce,
        "reply_code": code,
        # datetimes travel inside subdocuments: nx-27017 stores a datetime given as a
        # top-level or dotted $set value as a string (docs/store.md)
        "message": {
            "message_id": message["message_id"],
            "requested_at": now,
            "expires_at": expires_at,
            "outcome": None,
        },
    }
    return message, record


def send_survey(ctx: Context, fu: dict, case: dict, worker: str, now: datetime) -> None:
    """Request the survey message, then record it (a crash in between requests it again,
    identically)."""
    message, record = survey_message(fu, case, now)
    ctx.dispatch("customer_message_requested", message)
    if ctx.store.followups.finish(fu["_id"], worker, "sent", **record):
        why = f"survey requested on {', '.join(fu['rule']['channels'])} ({fu['rule']['survey']})"
        ctx.store.trail.audit(
            case["_id"], "followup_requested", "system", why,
            detail={"followup_id": fu["_id"], "message_id": message["message_id"]},
            key=f"{fu['_id']}:requested", at=now,
        )  # fmt: skip


def task_doc(task: followup.Task, now: datetime) -> dict:
    return {
        "assignee": task.assignee,
        "opened_at": now,
        "due_at": task.due,
        "due_epoch": task.due.timestamp(),
        "reason": task.why,
        "done_at": None,
        "done_by": None,
        "note": None,
    }


def announce_task(ctx: Context, fu: dict, case: dict, task: followup.Task, now: datetime) -> None:
    """Audit a follow-up task and tell whoever must do it."""
    ctx.store.trail.audit(
        case["_id"], "followup_task_opened", "system", f"{task.why}; due {task.due.isoformat()}",
        detail={"followup_id": fu["_id"], "assignee": task.assignee}, key=f"{fu['_id']}:task", at=now,
    )  # fmt: skip
    ctx.notify(
        case, task.assignee, "case_update", f"followup-task:{fu['_id']}",
        update="followup_task", by="system", reason=task.why, followup_due=task.due.isoformat(),
    )  # fmt: skip


# notify's outcome ---------------------------------------------------------------------------


RECEIPTS = ("delivered", "undelivered")  # a vendor's delivery receipt, after "sent"


def record_outcome(ctx: Context, outcome: dict) -> None:
    """``customer_message_outcome``: kept on the follow-up (or the reply's comment) and
    audited; a survey refused, failed or undelivered becomes a task for the case's owner.
    A delivery receipt (delivered / undelivered) replaces ``sent``; one that came first
    stands, and the ``sent`` after it changes nothing."""
    now = ctx.now()
    if outcome["purpose"] == "case_reply":
        record_reply_outcome(ctx, outcome, now)
        return
    if outcome["purpose"] != "followup_survey":
        return
    receipt = outcome["status"] in RECEIPTS
    store = ctx.store.followups
    entry = outcome_entry(outcome, now)
    fu = (store.record_delivery if receipt else store.record_outcome)(outcome["message_id"], entry)
    if fu is None:
        return  # not ours, or recorded already (a redelivery)
    status, reason = outcome["status"], outcome.get("reason")
    why = f"survey {status}" + (f" on {outcome['channel']}" if outcome.get("channel") else "")
    why += f": {reason}" if reason else ""
    ctx.store.trail.audit(
        fu["case_id"], f"followup_message_{status}", "notify", why,
        detail={"followup_id": fu["_id"], "reason": reason, "channel": outcome.get("channel"),
                "error_code": outcome.get("error_code")},
        key=f"{fu['_id']}:{'receipt' if receipt else 'outcome'}", at=now,
    )  # fmt: skip
    case = ctx.store.cases.get_case(fu["case_id"])
    if status not in ("sent", "delivered") and case is not None:
        owner_task(
            ctx, fu, case, f"the survey was {status} ({reason or 'no reason given'}); follow up in person"
        )


def owner_task(ctx: Context, fu: dict, case: dict, why: str) -> None:
    """An automatic follow-up that could not reach the customer becomes the owner's task."""
    now = ctx.now()
    calendar = calendar_for(ctx, fu["rule"], case)
    task = followup.task_for({**fu, "rule": {**fu["rule"], "by": "owner"}}, case, now, calendar, why)
    if ctx.store.followups.open_task(fu["_id"], task_doc(task, now)):
        announce_task(ctx, fu, case, task, now)


def record_reply_outcome(ctx: Context, outcome: dict, now: datetime) -> None:
    comment_id = outcome["message_id"].rpartition(":reply:")[2]
    receipt = outcome["status"] in RECEIPTS
    record = ctx.store.trail.record_receipt if receipt else ctx.store.trail.record_delivery
    if record(comment_id, outcome_entry(outcome, now)) and outcome.get("case_id"):
        reason = outcome.get("reason")
        ctx.store.trail.audit(
            outcome["case_id"], f"customer_reply_{outcome['status']}", "notify",
            f"reply {outcome['status']}" + (f": {reason}" if reason else ""),
            detail={"comment_id": comment_id, "channel": outcome.get("channel"), "reason": reason,
                    "error_code": outcome.get("error_code")},
            key=f"{outcome['message_id']}:{'receipt' if receipt else 'outcome'}", at=now,
        )  # fmt: skip


def customer_reply(ctx: Context, case: dict, comment: dict) -> None:
    """A comment with ``visibility: customer`` is sent to the customer (``case_reply``)."""
    channels = [c.strip() for c in settings.get("CUSTOMER_REPLY_CHANNELS").split(",") if c.strip()]
    ctx.dispatch(
        "customer_message_requested",
        {
            "message_id": f"{case['_id']}:reply:{comment['_id']}",
            "requested_at": comment["at"],
            "purpose": "case_reply",
            "customer_id": case["customer"]["id"],
            "channels": channels,
            "case_id": case["_id"],
            "language": settings.get("CUSTOMER_REPLY_LANGUAGE"),
            "not_after": None,
            "context": jsonable(
                {"reply_text": comment["text"], "case_title": case["title"], "author": comment["author"]}
            ),
        },
    )


# task lists ---------------------------------------------------------------------------------------


def tasks(ctx: Context, r: dict) -> list[dict]:
    """Follow-up tasks (``FollowupListRequest``), soonest due first, each with ``overdue``."""
    now = ctx.now()
    rows = ctx.store.followups.tasks(
        assignees=r["assignees"], state=r["state"], overdue_at=now.timestamp() if r["overdue"] else None,
        limit=r["limit"], skip=r["skip"],
    )  # fmt: skip
    return jsonable([followup.presented(row, now) for row in rows])


def survey_for_code(ctx: Context, code: str) -> dict:
    """The survey link of a reply code (the gateway's short form)."""
    fu = ctx.store.followups.by_code(code.strip().upper())
    if fu is None or fu.get("state") not in ("sent", "task", "answered"):
        raise NotFound("no follow-up with this reply code")
    case = ctx.store.cases.get_case(fu["case_id"])
    if case is None:
        raise NotFound("no follow-up with this reply code")
    token, _ = survey_token(fu, case)
    return {"token": token, "state": fu["state"]}
