"""The customer's follow-up answer (回访) applied to the case: from the survey page (a
feedback event with ``case_id`` on ``feedback.<channel>.followup``) or told to the
agent who did a follow-up task. ``followup.classify`` decides; satisfied → the case is
``verified``, passive → it stays resolved, unhappy → it is reopened and its owner told.
"""

from __future__ import annotations

import logging

from services.cases import actions, followup, followups
from services.cases.context import Context
from services.cases.lifecycle import InvalidTransition
from services.common.errors import BadRequest, NotFound
from services.common.mongo import jsonable

log = logging.getLogger(__name__)


# answers --------------------------------------------------------------------------------------


def take_answer(ctx: Context, event: dict) -> str | None:
    """A follow-up survey answer (a feedback event with ``case_id``, published by the
    gateway's survey page): recorded once, then the case is verified, left resolved
    (passive) or reopened with its owner told. Returns the classification, or None when
    the event answers no waiting follow-up (unknown, or answered already)."""
    nonce = (event.get("attributes") or {}).get("followup_nonce")
    answer = followup.answer_of(event)
    fu = ctx.store.followups.by_nonce(event.get("case_id"), nonce) if nonce else None
    if fu is None or answer is None:
        log.warning("follow-up answer %s/%s matches no follow-up", event.get("source"), event.get("event_id"))
        return None
    scale, score = answer
    try:
        verdict = followup.classify(scale, score)
    except ValueError as exc:
        log.warning("follow-up answer %s refused: %s", event.get("event_id"), exc)
        return None
    entry = {
        "scale": scale, "score": score, "classification": verdict, "at": event["occurred_at"],
        "event_id": event["event_id"], "source": event["source"], "by": None,
    }  # fmt: skip
    stored = ctx.store.followups.answer(fu["_id"], entry, nonce)
    if stored is None:
        return None
    apply_answer(ctx, stored, entry, by="customer")
    return verdict


def apply_answer(ctx: Context, fu: dict, answer: dict, *, by: str) -> None:
    """What an answer does to the case (see ``followup.classify``)."""
    case_id, verdict = fu["case_id"], answer["classification"]
    why = f"follow-up answer {answer['scale'].upper()} {answer['score']}: {verdict}"
    now = ctx.now()
    ctx.store.trail.audit(
        case_id, "followup_answered", by, why, detail={"followup_id": fu["_id"], **answer},
        key=f"{fu['_id']}:answered", at=now,
    )  # fmt: skip
    try:
        if verdict == "satisfied":
            actions.transition(ctx, case_id, "verify", by=by, why=why)
        elif verdict == "unhappy":
            actions.reopen(ctx, case_id, by=by, why=why)
    except (InvalidTransition, BadRequest) as exc:  # reopened meanwhile, closed, or the key moved on
        log.info("follow-up answer on %s left the case as it is: %s", case_id, exc)
        case = ctx.store.cases.get_case(case_id)
        if verdict == "unhappy" and case is not None:
            ctx.notify_update(case, case["assignee"], "followup_unhappy", by=by, reason=why)


def unreadable_reply(ctx: Context, r: dict) -> dict:
    """A customer's reply to the survey (by SMS) that answers no score: audited on the case
    with the text and why, and the follow-up, while it waits for the survey, becomes the
    owner's task (a person reads what the customer wrote). ``{"task": opened or not}``."""
    fu = ctx.store.followups.latest_for_case(r["case_id"])
    case = ctx.store.cases.get_case(r["case_id"])
    if fu is None or case is None:
        raise NotFound(f"no follow-up for case {r['case_id']}")
    why = f"the customer replied by {r['via']}: {r['text']!r} ({r['reason']}); follow up in person"
    now = ctx.now()
    ctx.store.trail.audit(
        case["_id"], "followup_sms_reply_unreadable", "customer", why,
        detail={"followup_id": fu["_id"], "text": r["text"], "reason": r["reason"], "via": r["via"]},
        key=f"{fu['_id']}:unreadable:{now.timestamp()}", at=now,
    )  # fmt: skip
    opened = fu["state"] == "sent"
    if opened:
        followups.owner_task(ctx, fu, case, why)
    return {"task": opened, "followup_id": fu["_id"]}


def complete_task(ctx: Context, r: dict) -> dict:
    """An agent did the follow-up task of ``r["case_id"]``: with the customer's answer
    (``score`` on ``scale``) it counts as the survey answer, else it is done with a note."""
    fu = ctx.store.followups.latest_for_case(r["case_id"])
    if fu is None or fu["state"] != "task":
        state = fu["state"] if fu else "none"
        raise BadRequest(f"case_id: {r['case_id']} has no open follow-up task (follow-up: {state})")
    now = ctx.now()
    task = {**fu["task"], "done_at": now, "done_by": r["by"], "note": r.get("note")}
    if r.get("score") is not None:
        answer = agent_answer(fu, r, now)
        stored = ctx.store.followups.answer(fu["_id"], answer, None, task=task)
    else:
        stored = ctx.store.followups.complete_task(fu["_id"], task)
    if stored is None:
        raise BadRequest(f"case_id: the follow-up of {r['case_id']} changed meanwhile; look again")
    if r.get("score") is not None:
        apply_answer(ctx, stored, stored["answer"], by=r["by"])
    else:
        why = r.get("note") or "follow-up done"
        detail = {"followup_id": fu["_id"], "on_time": followup.on_time(fu, now)}
        ctx.store.trail.audit(
            r["case_id"], "followup_done", r["by"], why, detail=detail, key=f"{fu['_id']}:done", at=now
        )
    return jsonable(followup.presented(stored, now))


def agent_answer(fu: dict, r: dict, now) -> dict:
    """The answer the customer gave the agent doing the task (``score`` on ``scale``)."""
    scale = r.get("scale") or fu["rule"]["survey"]
    try:
        verdict = followup.classify(scale, r["score"])
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    return {
        "scale": scale, "score": r["score"], "classification": verdict, "at": now,
        "event_id": None, "source": "agent", "by": r["by"], "note": r.get("note"),
    }  # fmt: skip
