"""Playbooks applied: saved as versions, suggested for a case, used on a case (the
reply filled, recorded, and sent through the customer channels when asked), and
measured per playbook.

The decisions are ``playbooks.py``'s (validation, matching, rendering); this module
reads and writes through the stores and announces through the context.
"""

from __future__ import annotations

import statistics
import uuid
from datetime import datetime

from marshmallow import fields, validate

from contracts.base import id_str
from contracts.messages import CUSTOMER_CHANNELS
from services.cases import playbooks
from services.cases.context import Context
from services.common.errors import BadRequest, NotFound
from services.common.validation import StrictSchema, load_valid
from textanalysis.text import analyze


def save(ctx: Context, document, *, by: str, why: str | None) -> dict:
    playbook = playbooks.load_playbook(document)
    version, changed = ctx.store.playbooks.save(playbook, by=by, why=why, at=ctx.now())
    return {"id": playbook["id"], "version": version, "changed": changed}


def show(ctx: Context, playbook_id: str) -> dict:
    return {**ctx.store.playbooks.get(playbook_id), "versions": ctx.store.playbooks.versions(playbook_id)}


def case_aspects(case: dict) -> list[str]:
    """The aspects of the comment the case was opened for (none without text)."""
    text = (case.get("event") or {}).get("text")
    return sorted(analyze(text).aspects) if text else []


def suggestions(ctx: Context, case_id: str, viewer: dict | None, limit: int = 5) -> dict:
    """The playbooks that fit a case, best first, each with why and its reply filled
    in both languages; the playbooks already used on the case."""
    case = ctx.store.queries.visible_case(case_id, viewer, ctx.now())
    if case is None:
        raise NotFound(f"no case {case_id}")
    aspects = case_aspects(case)
    found = playbooks.suggest(ctx.store.playbooks.all(), case, aspects, limit)
    agent = (case.get("assignee") or {}).get("id") or ""
    return {
        "case_id": case_id,
        "aspects": aspects,
        "suggestions": [
            {
                "id": s.playbook["id"],
                "version": s.playbook["version"],
                "title": s.playbook["title"],
                "steps": s.playbook["steps"],
                "score": s.score,
                "reasons": list(s.reasons),
                "reply": {
                    lang: playbooks.render_reply(s.playbook, case, lang, agent)
                    for lang in playbooks.LANGUAGES
                },
            }
            for s in found
        ],
        "used": ctx.store.playbooks.uses_of_case(case_id),
    }


class UseRequest(StrictSchema):
    case_id = id_str(128, required=True)
    playbook_id = id_str(128, required=True)
    by = id_str(128, required=True, metadata={"description": "who uses it (agent id)"})
    send = fields.Boolean(load_default=False, metadata={"description": "send the reply to the customer"})
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(playbooks.LANGUAGES))
    channels = fields.List(
        fields.String(validate=validate.OneOf(CUSTOMER_CHANNELS)),
        load_default=None,
        validate=validate.Length(min=1),
        metadata={"description": "default: the playbook's channels"},
    )
    use_id = id_str(128, load_default=None, metadata={"description": "idempotency key"})


def use(ctx: Context, request) -> dict:
    """Use a playbook on a case: its reply filled for the case and recorded (audit,
    and a comment); with ``send`` the reply goes to the customer through the customer
    channels (``customer_message_requested``). Once per ``use_id``: a retry records
    nothing again and re-announces the same message (notify keeps one per id)."""
    r = load_valid(UseRequest, request, shape="must be an object", field="")
    case = ctx.store.cases.get_case(r["case_id"])
    if case is None:
        raise NotFound(f"no case {r['case_id']}")
    if case["status"] == "closed":
        raise BadRequest(f"case_id: {case['_id']} is closed")
    playbook = ctx.store.playbooks.get(r["playbook_id"])
    if not playbook.get("enabled", True):
        raise BadRequest(f"playbook_id: {playbook['id']} is disabled")
    now = ctx.now()
    use_id = r["use_id"] or uuid.uuid4().hex
    channels = r["channels"] or playbook["channels"]
    reply = playbooks.render_reply(playbook, case, r["language"], r["by"])
    record = {
        "_id": use_id,
        "case_id": case["_id"],
        "customer_id": case["customer"]["id"],
        "playbook_id": playbook["id"],
        "version": playbook["version"],
        "by": r["by"],
        "at": now,
        "language": r["language"],
        "reply": reply,
        "sent": r["send"],
        "channels": channels if r["send"] else [],
        "message_id": f"playbook:{use_id}" if r["send"] else None,
        "reopen_count_at_use": case.get("reopen_count", 0),
    }
    stored, new = ctx.store.playbooks.record_use(record)
    if new:
        _record_on_case(ctx, stored)
    if stored["sent"]:
        ctx.dispatch("customer_message_requested", _reply_message(stored, case, now))
    return stored


def _record_on_case(ctx: Context, use_record: dict) -> None:
    detail = {k: use_record[k] for k in ("playbook_id", "version", "sent", "channels", "message_id")}
    ctx.store.trail.audit(
        use_record["case_id"],
        "playbook_used",
        use_record["by"],
        f"playbook {use_record['playbook_id']} v{use_record['version']}",
        detail=detail,
        key=f"playbook-use:{use_record['_id']}",
        at=use_record["at"],
    )
    ctx.store.trail.add_comment(
        {
            "_id": f"playbook-{use_record['_id']}",
            "case_id": use_record["case_id"],
            "author": use_record["by"],
            # what went to the customer is a customer-visible comment; a reply only
            # filled (not sent) stays internal, as a draft the agent adapts
            "visibility": "customer" if use_record["sent"] else "internal",
            "text": use_record["reply"],
            "at": use_record["at"],
            "playbook": {"id": use_record["playbook_id"], "version": use_record["version"]},
        }
    )


def _reply_message(use_record: dict, case: dict, now: datetime) -> dict:
    return {
        "message_id": use_record["message_id"],
        "requested_at": now,
        "purpose": "playbook_reply",
        "customer_id": use_record["customer_id"],
        "channels": use_record["channels"],
        "case_id": use_record["case_id"],
        "language": use_record["language"],
        "not_after": None,
        # the keys notify's customer templates read (services/notify/customers/render.py)
        "context": {
            "reply_text": use_record["reply"],
            "case_title": case.get("title") or "",
            "customer_name": (case.get("customer") or {}).get("name") or "",
            "playbook_id": use_record["playbook_id"],
        },
    }


# metrics per playbook ---------------------------------------------------------------


def followup_score(answer: dict | None) -> float | None:
    """The customer's post-resolution satisfaction as CSAT 1–5 (an NPS answer scaled),
    from a follow-up's answer (``followups``: ``{"scale", "score"}``); None without one."""
    if not answer or answer.get("score") is None:
        return None
    if answer.get("scale") == "csat":
        return float(answer["score"])
    if answer.get("scale") == "nps":
        return 1 + 4 * answer["score"] / 10
    return None


def latest_answers(ctx: Context, case_ids: list[str]) -> dict[str, dict]:
    """Each case's latest follow-up answer (one ``$in`` read of ``followups``)."""
    out: dict[str, dict] = {}
    answered = [f for f in ctx.store.followups.for_cases(case_ids) if f.get("answer")]
    for fu in sorted(answered, key=lambda f: str(f["answer"].get("at"))):
        out[fu["case_id"]] = fu["answer"]
    return out


def metrics(ctx: Context, since: datetime, until: datetime | None) -> dict:
    """Per playbook, over its uses in ``[since, until)``: uses, cases, resolved cases,
    mean hours from opening to first resolution, the share reopened after the use,
    and the mean post-resolution CSAT of those with a follow-up answer."""
    now = ctx.now()
    until = until or now
    if until <= since:
        raise BadRequest("until: must be after since")
    uses = ctx.store.playbooks.uses_between(since, until)
    cases = ctx.store.playbooks.cases_of(uses)
    answers = latest_answers(ctx, sorted(cases))
    by_playbook: dict[str, list[dict]] = {}
    for u in uses:
        by_playbook.setdefault(u["playbook_id"], []).append(u)
    rows = [_playbook_row(pid, us, cases, answers) for pid, us in sorted(by_playbook.items())]
    return {"since": since, "until": until, "as_of": now, "playbooks": rows}


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def _playbook_row(
    playbook_id: str, uses: list[dict], cases: dict[str, dict], answers: dict[str, dict]
) -> dict:
    first_use: dict[str, dict] = {}
    for u in uses:
        first_use.setdefault(u["case_id"], u)
    resolved_hours, reopened, scores, resolved = [], 0, [], 0
    for case_id, u in first_use.items():
        case = cases.get(case_id)
        if case is None:
            continue
        resolved_at = (case.get("milestones") or {}).get("resolved_at")
        if resolved_at is None:
            continue
        resolved += 1
        resolved_hours.append((resolved_at - case["opened_at"]).total_seconds() / 3600)
        if case.get("reopen_count", 0) > u.get("reopen_count_at_use", 0):
            reopened += 1
        score = followup_score(answers.get(case_id))
        if score is not None:
            scores.append(score)
    return {
        "playbook_id": playbook_id,
        "uses": len(uses),
        "cases": len(first_use),
        "sent": sum(1 for u in uses if u["sent"]),
        "resolved": resolved,
        "mean_resolution_hours": _mean(resolved_hours),
        "reopen_rate": round(reopened / resolved, 3) if resolved else None,
        "post_resolution_csat": _mean(scores),
        "csat_answers": len(scores),
    }
