"""cxctl cases followup … : follow-up with the customer (回访) after resolution."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from cxctl.common import Ctx, call, emit_json, json_option, read_document, table


@click.group("followup")
def followup():
    """Follow-up with the customer after resolution (回访): policy, tasks, done."""


@followup.command("apply")
@click.argument("file")
@click.pass_obj
def followup_apply(ctx: Ctx, file):
    """Validate and save a follow-up policy file as a new version."""
    result = call(ctx, "cases", "apply_followup_policy", read_document(file))
    state = "saved" if result["changed"] else "unchanged"
    click.echo(f"follow-up policy {result['id']} v{result['version']} {state}")


@followup.command("policy")
@json_option
@click.pass_obj
def followup_policy(ctx: Ctx, as_json):
    """The current follow-up policy: its rules in the order they are matched."""
    stored = call(ctx, "cases", "get_followup_policy")
    if as_json:
        return emit_json(stored)
    click.echo(f"{stored['policy']['id']} v{stored['version']}")
    for rule in stored["policy"]["rules"]:
        wanted = {k: v for k, v in (rule.get("match") or {}).items() if v}
        when = ", ".join(f"{k} {'/'.join(v)}" for k, v in wanted.items()) or "every case"
        who = f"team {rule['team']}" if rule["by"] == "team" else rule["by"]
        click.echo(
            f"  {rule['name']}: {when} → {rule['after_business_hours']:g} business h after resolution, "
            f"by {who}, {rule['survey']} via {', '.join(rule['channels'])} "
            f"(task SLA {rule['task_sla_business_hours']:g} business h)"
        )


@followup.command("list")
@click.option("--assignee", "assignees", multiple=True, help="a person or team (repeatable); default: all")
@click.option("--state", type=click.Choice(["open", "done", "all"]), default="open", show_default=True)
@click.option("--overdue", is_flag=True, help="open tasks past their due time only")
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_obj
def followup_list(ctx: Ctx, assignees, state, overdue, limit, as_json):
    """Follow-up tasks, soonest due first; an open task past its due time is OVERDUE."""
    request = {"assignees": list(assignees) or None, "state": state, "overdue": overdue, "limit": limit}
    rows = call(ctx, "cases", "list_followups", request)
    if as_json:
        return emit_json(rows)
    for row in rows:
        task = row["task"]
        row["who"] = f"{task['assignee']['kind']}:{task['assignee']['id']}"
        row["when"] = "OVERDUE" if row["overdue"] else ("done" if task.get("done_at") else "due")
    table(
        rows,
        [
            ("CASE", "case_id"),
            ("LEVEL", "level"),
            ("ASSIGNEE", "who"),
            ("DUE", "task.due_at"),
            ("", "when"),
            ("STATE", "state"),
            ("WHY", "task.reason"),
        ],
    )


@followup.command("done")
@click.argument("case_id")
@click.option("--by", required=True, envvar="CX_AGENT", help="who did it (or CX_AGENT)")
@click.option("--score", type=int, help="the customer's answer, if they gave one (verifies or reopens)")
@click.option("--scale", type=click.Choice(["csat", "nps"]), help="default: the policy rule's survey")
@click.option("--note", help="what came of it (kept with the task and in the audit trail)")
@json_option
@click.pass_obj
def followup_done(ctx: Ctx, case_id, by, score, scale, note, as_json):
    """Mark a case's follow-up task done; with --score the answer counts as the survey's."""
    request = {"case_id": case_id, "by": by, "score": score, "scale": scale, "note": note}
    done = call(ctx, "cases", "followup_done", {k: v for k, v in request.items() if v is not None})
    if as_json:
        return emit_json(done)
    answer = done.get("answer") or {}
    extra = f"  answer: {answer['scale']} {answer['score']} ({answer['classification']})" if answer else ""
    on_time = (done.get("task") or {}).get("on_time")
    click.echo(
        f"{case_id}  follow-up {done['state']}{extra}" + ("" if on_time is None else f"  on time: {on_time}")
    )


@followup.command("show")
@click.argument("case_id")
@json_option
@click.pass_obj
def followup_show(ctx: Ctx, case_id, as_json):
    """A case's latest follow-up: when due, the message and its outcome, the task, the answer."""
    fu = call(ctx, "cases", "get_followup", case_id)
    if as_json:
        return emit_json(fu)
    rule = f"rule {fu['policy']['rule']} v{fu['policy']['version']}"
    click.echo(f"{fu['_id']}  {fu['state']}  by {fu['mode']}  ({rule})")
    click.echo(f"  due: {fu['due_at']}  deadline: {fu['deadline_at']}")
    for line in describe(fu):
        click.echo("  " + line)


def describe(fu: dict) -> list[str]:
    """The follow-up's message, task and answer, one line each."""
    lines = []
    message = fu.get("message") or {}
    if message:
        outcome = message.get("outcome") or {}
        status = outcome.get("status", "no outcome yet")
        why = f" ({outcome['reason']})" if outcome.get("reason") else ""
        lines.append(f"survey: requested {message['requested_at']} → {status}{why}")
    task = fu.get("task") or {}
    if task:
        assignee = task["assignee"]
        done = f"done {task['done_at']} by {task['done_by']}" if task.get("done_at") else "open"
        lines.append(f"task: {assignee['kind']} {assignee['id']}, due {task['due_at']}, {done}")
    answer = fu.get("answer") or {}
    if answer:
        lines.append(f"answer: {answer['scale']} {answer['score']} ({answer['classification']})")
    return lines


def followup_rows(out: dict, group_by: str | None) -> None:
    """The follow-up figures of ``cases metrics`` as a second table."""
    rows = [{"key": "(all)", **out["overall"]}] + [
        {**g, "key": "(none)" if g["key"] is None else g["key"]} for g in out["groups"]
    ]
    for row in rows:
        for name in ("recovery_rate", "followup_on_time_rate"):
            row[name] = "-" if row[name] is None else f"{row[name]:.0%}"
        csat, nps = row["post_resolution_csat"], row["post_resolution_nps"]
        row["csat"] = "-" if csat is None else f"{csat:.2f}"
        row["nps"] = "-" if nps is None else f"{nps:+.0f}"
    click.echo(f"follow-ups (回访) as of {datetime.now(UTC).isoformat(timespec='seconds')}")
    table(
        rows,
        [
            ((group_by or "").upper() or "CASES", "key"),
            ("FOLLOW-UPS", "followups"),
            ("ANSWERED", "followups_answered"),
            ("CSAT AFTER", "csat"),
            ("NPS AFTER", "nps"),
            ("RECOVERY", "recovery_rate"),
            ("ON TIME", "followup_on_time_rate"),
        ],
    )
