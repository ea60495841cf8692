"""cxctl cases …"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

from cxctl.common import Ctx, call, emit_json, json_option, read_document, table
from cxctl.followups import describe, followup, followup_rows
from cxctl.playbooks import echo_suggestions


@click.group()
def cases():
    """Cases opened from alerts."""


cases.add_command(followup)


@cases.command("list")
@click.option("--status")
@click.option("--owner", "--assignee", "assignee", help="owner (assignee) id")
@click.option("--level", type=click.Choice(["P1", "P2", "P3", "P4"]))
@click.option("--customer")
@click.option("--touchpoint")
@click.option(
    "--breach",
    type=click.Choice(["ack_breached", "resolve_breached", "breached", "at_risk", "warning", "none"]),
    help="SLA state (breached = either clock; warning = at_risk)",
)
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_obj
def cases_list(ctx: Ctx, status, assignee, level, customer, touchpoint, breach, limit, as_json):
    """Cases by urgency, newest first within a level."""
    rows = call(
        ctx,
        "cases",
        "list_cases",
        limit=limit,
        status=status,
        assignee=assignee,
        level=level,
        customer=customer,
        touchpoint=touchpoint,
        breach=breach,
    )
    if as_json:
        return emit_json(rows)
    table(
        rows,
        [
            ("CASE", "_id"),
            ("LEVEL", "level"),
            ("STATUS", "status"),
            ("ASSIGNEE", "assignee.id"),
            ("TITLE", "title"),
        ],
    )


@cases.command("show")
@click.argument("case_id")
@json_option
@click.pass_obj
def cases_show(ctx: Ctx, case_id, as_json):
    """One case with its audit trail."""
    case = call(ctx, "cases", "get_case", case_id)
    if as_json:
        return emit_json(case)
    click.echo(f"{case['_id']}  {case['level']}  {case['status']}")
    click.echo(f"  {case['title']}")
    assignee = case.get("assignee") or {}
    click.echo(f"  assignee: {assignee.get('kind', '-')} {assignee.get('id', '')}")
    click.echo(
        f"  customer: {case['customer']['id']}  rule: {case['rule']['id']} "
        f"v{case['rule']['version']}  opened: {case['opened_at']}"
    )
    if case.get("parent"):
        click.echo(f"  incident: {case['parent']['_id']}  {case['parent']['title']}")
    if case.get("kind") == "incident":
        click.echo(
            f"  incident of {case['child_counts']['total']} case(s): cxctl cases incidents show {case['_id']}"
        )
    if case["event"].get("text"):
        click.echo(f"  text: {case['event']['text']}")
    click.echo("  why it fired:")
    for step in case.get("trace", []):
        mark = "✓" if step["result"] else "✗"
        what = step.get("field") or step.get("window") or step.get("path", "")  # a window leaf has no field
        click.echo(
            f"    {mark} {what} {step.get('op', '')} {step.get('value')!r} (actual {step.get('actual')!r})"
        )
    if case.get("acknowledged"):
        click.echo(f"  acknowledged: {case['acknowledged']['at']} by {case['acknowledged']['by']}")
    for c in case.get("collaborators", []):
        click.echo(f"  collaborator: {c['id']} ({c['role']})")
    if case.get("resolution"):
        r = case["resolution"]
        click.echo(f"  resolution: {r['root_cause']}  first contact: {r['first_contact_resolution']}")
    clocks = (case.get("sla") or {}).get("clocks") or {}
    for name, clock in clocks.items():
        when = clock.get("due") or clock["state"]
        met = {True: " (met)", False: " (missed)"}.get(clock.get("met"), "")
        click.echo(f"  SLA {name}: {when}{met}  used {clock['used']:.0f}/{clock['budget']} business min")
    if clocks:
        click.echo(f"  SLA state: {case.get('breach_state')}")
    for warning in (case.get("sla") or {}).get("warnings") or []:
        click.echo(f"  SLA warning: {warning}")
    for step in case.get("escalation_steps", []):
        click.echo(
            f"  escalation r{step['round'] + 1}s{step['index'] + 1} {step['step']['notify']}: {step['state']}"
        )
    click.echo(f"  alerts: {len(case.get('alerts', []))}")
    for a in case.get("alerts", []):
        click.echo(f"    {a['at']}  {a['alert_id']}  {a['level']}  {a['rule_id']}")
    for c in case.get("comments", []):
        sent = c.get("delivery")
        to_customer = f" → {sent['status']} {sent.get('channel') or sent.get('reason') or ''}" if sent else ""
        click.echo(f"  comment [{c['visibility']}] {c['author']}: {c['text']}{to_customer}")
    for fu in case.get("followups", []):
        click.echo(f"  follow-up {fu['state']} by {fu['mode']}, due {fu['due_at']}")
        for line in describe(fu):
            click.echo(f"    {line}")
    if case["status"] not in ("resolved", "closed") and case.get("kind") != "incident":
        echo_suggestions(ctx, case["_id"])
    click.echo("  audit:")
    for entry in case.get("audit", []):
        click.echo(f"    {entry['at']}  {entry['action']}  by {entry['actor']}: {entry['why']}")


# changing a case -------------------------------------------------------------

by_option = click.option("--by", required=True, envvar="CX_AGENT", help="who acts (or CX_AGENT)")
reason_option = click.option("--reason", help="why (kept in the audit trail)")


def _act(ctx: Ctx, method: str, as_json: bool, **request) -> None:
    case = call(ctx, "cases", method, {k: v for k, v in request.items() if v is not None})
    if as_json:
        return emit_json(case)
    assignee = (case.get("assignee") or {}).get("id", "-")
    click.echo(f"{case['_id']}  {case['status']}  owner: {assignee}")


def _owner(value: str) -> dict:
    kind, _, ident = value.partition(":")
    if not ident:
        kind, ident = "person", value
    return {"kind": kind, "id": ident}


def _simple(name: str, method: str, doc: str, reason_required: bool = False) -> None:
    @cases.command(name, help=doc)
    @click.argument("case_id")
    @by_option
    @click.option("--reason", required=reason_required, help="why (kept in the audit trail)")
    @json_option
    @click.pass_obj
    def command(ctx: Ctx, case_id, by, reason, as_json):
        _act(ctx, method, as_json, case_id=case_id, by=by, reason=reason)


_simple("ack", "acknowledge", "Acknowledge a case (stops the acknowledge clock).")
_simple("start", "start", "Start work on a case (in_progress).")
_simple("pending", "pending_customer", "Wait for the customer (SLA clocks pause).")
_simple("resume", "resume", "The customer answered: back to in_progress.")
_simple("reopen", "reopen", "Reopen a resolved case.", reason_required=True)
_simple("close", "close", "Close a resolved case.")


@cases.command("assign")
@click.argument("case_id")
@click.argument("owner")
@by_option
@reason_option
@json_option
@click.pass_obj
def cases_assign(ctx: Ctx, case_id, owner, by, reason, as_json):
    """Assign a case to OWNER (person id, or team:ID)."""
    _act(ctx, "assign", as_json, case_id=case_id, assignee=_owner(owner), by=by, reason=reason)


@cases.command("reassign")
@click.argument("case_id")
@click.argument("owner")
@by_option
@click.option("--reason", required=True, help="handoff reason")
@json_option
@click.pass_obj
def cases_reassign(ctx: Ctx, case_id, owner, by, reason, as_json):
    """Hand a case over to OWNER (person id, or team:ID) with a reason."""
    _act(ctx, "reassign", as_json, case_id=case_id, assignee=_owner(owner), by=by, reason=reason)


@cases.command("collaborator")
@click.argument("case_id")
@click.argument("person")
@click.option("--role", required=True, help="the collaborator's role, e.g. logistics")
@by_option
@reason_option
@json_option
@click.pass_obj
def cases_collaborator(ctx: Ctx, case_id, person, role, by, reason, as_json):
    """Add PERSON as a collaborator (协作人) with a role."""
    _act(ctx, "add_collaborator", as_json, case_id=case_id, person=person, role=role, by=by, reason=reason)


@cases.command("comment")
@click.argument("case_id")
@click.argument("text")
@click.option("--customer-facing", is_flag=True, help="visible to the customer (default: internal)")
@by_option
@json_option
@click.pass_obj
def cases_comment(ctx: Ctx, case_id, text, customer_facing, by, as_json):
    """Comment on a case."""
    visibility = "customer" if customer_facing else "internal"
    comment = call(
        ctx, "cases", "comment", {"case_id": case_id, "by": by, "text": text, "visibility": visibility}
    )
    if as_json:
        return emit_json(comment)
    click.echo(f"{comment['case_id']}  comment {comment['_id']} ({visibility})")


@cases.command("resolve")
@click.argument("case_id")
@click.option("--root-cause", required=True, help="a configured root-cause category")
@click.option("--fcr/--no-fcr", required=True, default=None, help="resolved at first contact?")
@click.option("--summary")
@by_option
@json_option
@click.pass_obj
def cases_resolve(ctx: Ctx, case_id, root_cause, fcr, summary, by, as_json):
    """Resolve a case with its root cause and first-contact-resolution flag."""
    if fcr is None:
        raise click.UsageError("say --fcr or --no-fcr")
    _act(
        ctx,
        "resolve",
        as_json,
        case_id=case_id,
        by=by,
        root_cause=root_cause,
        first_contact_resolution=fcr,
        summary=summary,
    )


# the agents directory ----------------------------------------------------------


@cases.group()
def agents():
    """Agents, teams and assignment strategies (the cases service's directory)."""


@agents.command("apply")
@click.argument("file")
@click.pass_obj
def agents_apply(ctx: Ctx, file):
    """Deprecated: cxctl people apply. Apply an agents file (YAML/JSON, - for stdin);
    refused once a people directory has been saved."""
    counts = call(ctx, "cases", "apply_agents", read_document(file))
    click.echo(", ".join(f"{name}: {n}" for name, n in counts.items()))


@agents.command("list")
@json_option
@click.pass_obj
def agents_list(ctx: Ctx, as_json):
    """Agents with their teams, skills, seniority, shift and weighted load."""
    directory = call(ctx, "cases", "list_agents")
    if as_json:
        return emit_json(directory)
    for agent in directory["agents"]:
        agent["shift"] = "on" if agent["on_shift"] else "off"
        agent["team_list"] = ",".join(agent["teams"])
        agent["skill_list"] = ",".join(agent["skills"])
    table(
        directory["agents"],
        [
            ("AGENT", "id"),
            ("NAME", "name"),
            ("TEAMS", "team_list"),
            ("SKILLS", "skill_list"),
            ("SENIORITY", "seniority"),
            ("SHIFT", "shift"),
            ("LOAD", "load"),
        ],
    )


@agents.command("shift")
@click.argument("agent_id")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_obj
def agents_shift(ctx: Ctx, agent_id, state):
    """Put an agent on or off shift."""
    agent = call(ctx, "cases", "set_shift", agent_id, state == "on")
    click.echo(f"{agent['id']}  {'on' if agent['on_shift'] else 'off'} shift")


@agents.command("recount")
@json_option
@click.pass_obj
def agents_recount(ctx: Ctx, as_json):
    """Recount agents' loads from the active cases and report what changed.

    The service also does this at start and every LOAD_RECOUNT_SECONDS. An agent
    whose load moved in the last LOAD_SETTLE_SECONDS is left for the next run.
    """
    result = call(ctx, "cases", "recount_loads")
    if as_json:
        return emit_json(result)
    changed = result["loads_changed"]
    click.echo(
        f"cases fixed: {result['cases_fixed']}; loads changed: {len(changed)}; "
        f"lost charges dropped: {result['charges_dropped']}"
    )
    for agent, (before, after) in sorted(changed.items()):
        click.echo(f"  {agent}: {before} → {after}")
    if result["busy"]:
        click.echo(f"left for the next run (load moving right now): {', '.join(result['busy'])}")


@cases.command("reapply-sla")
@click.argument("case_id")
@by_option
@reason_option
@json_option
@click.pass_obj
def cases_reapply_sla(ctx: Ctx, case_id, by, reason, as_json):
    """Re-snapshot a case onto the current SLA policy (time already used is kept)."""
    _act(ctx, "reapply_sla", as_json, case_id=case_id, by=by, reason=reason)


def _apply_policy(ctx: Ctx, method: str, label: str, file: str, apply_to_open_cases: bool) -> None:
    result = call(ctx, "cases", method, read_document(file), apply_to_open_cases)
    state = "saved" if result["changed"] else "unchanged"
    click.echo(
        f"{label} {result['id']} v{result['version']} {state}; "
        f"re-applied to {len(result['reapplied'])} open cases"
    )
    for warning in result.get("warnings", []):
        click.echo(f"warning: {warning}")


@cases.group("sla")
def sla_group():
    """The SLA policy (versioned; cases snapshot it when they open)."""


@sla_group.command("apply")
@click.argument("file")
@click.option("--apply-to-open-cases", is_flag=True, help="re-apply the new version to every open case")
@click.pass_obj
def sla_apply(ctx: Ctx, file, apply_to_open_cases):
    """Validate and save an SLA policy file as a new version."""
    _apply_policy(ctx, "apply_sla_policy", "SLA policy", file, apply_to_open_cases)


@sla_group.command("show")
@json_option
@click.pass_obj
def sla_show(ctx: Ctx, as_json):
    """The current SLA policy."""
    stored = call(ctx, "cases", "get_sla_policy")
    if as_json:
        return emit_json(stored)
    policy = stored["policy"]
    click.echo(
        f"{policy['id']} v{stored['version']}  warn at {policy['warn_ratio']:.0%}  "
        f"default calendar {policy['default_calendar']}"
    )
    for level, terms in sorted(policy["levels"].items()):
        cal = terms.get("calendar") or "team/default"
        click.echo(
            f"  {level}: acknowledge {terms['acknowledge_minutes']} min, "
            f"resolve {terms['resolve_minutes']} min ({cal})"
        )


@cases.group("escalation")
def escalation_group():
    """The escalation policy (versioned; cases snapshot it when they open)."""


@escalation_group.command("apply")
@click.argument("file")
@click.option("--apply-to-open-cases", is_flag=True, help="replace the pending steps of every open case")
@click.pass_obj
def escalation_apply(ctx: Ctx, file, apply_to_open_cases):
    """Validate and save an escalation policy file as a new version."""
    _apply_policy(ctx, "apply_escalation_policy", "escalation policy", file, apply_to_open_cases)


@escalation_group.command("show")
@json_option
@click.pass_obj
def escalation_show(ctx: Ctx, as_json):
    """The current escalation policy."""
    stored = call(ctx, "cases", "get_escalation_policy")
    if as_json:
        return emit_json(stored)
    policy = stored["policy"]
    click.echo(
        f"{policy['id']} v{stored['version']}  department head: {policy.get('department_head') or '-'}"
    )
    for level, chain in sorted(policy["levels"].items()):
        steps = ", ".join(
            f"{s['after_minutes']:g} min → {s['notify']}{'(' + s['group'] + ')' if s.get('group') else ''}"
            for s in chain["steps"]
        )
        click.echo(f"  {level}: {steps}; repeat {chain['repeat']}; stops on {chain['stop_on']}")


# metrics ---------------------------------------------------------------------

RELATIVE = re.compile(r"^(\d+)([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def moment(value: str | None, now: datetime) -> str | None:
    """``30d``/``12h``/``2w``/``90m`` ago, or an ISO-8601 datetime passed on as it is."""
    if value is None:
        return None
    match = RELATIVE.match(value.strip())
    if match:
        return (now - timedelta(**{UNITS[match[2]]: int(match[1])})).isoformat()
    return value


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 1440)
    return (f"{days}d " if days else "") + f"{rest // 60}h{rest % 60:02d}m"


def _share(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


@cases.command("metrics")
@click.option("--since", default="30d", show_default=True, help="30d, 12h, 2w, 90m ago, or ISO-8601")
@click.option("--until", help="same forms; default now")
@click.option("--by", "group_by", type=click.Choice(["team", "level", "touchpoint", "owner"]))
@json_option
@click.pass_obj
def cases_metrics(ctx: Ctx, since, until, group_by, as_json):
    """MTTA, MTTR (wall-clock), SLA breaches, reopen rate and FCR of the cases opened in a period,
    and their follow-ups: CSAT/NPS after resolution, recovery rate, done on time."""
    now = datetime.now(UTC)
    request = {"since": moment(since, now), "until": moment(until, now), "group_by": group_by}
    out = call(ctx, "cases", "metrics", {k: v for k, v in request.items() if v is not None})
    if as_json:
        return emit_json(out)
    click.echo(f"cases opened {out['since']} … {out['until']} (as of {out['as_of']})")
    rows = [{"key": "(all)", **out["overall"]}] + [
        {**g, "key": "(none)" if g["key"] is None else g["key"]} for g in out["groups"]
    ]
    for row in rows:
        row["mtta"], row["mttr"] = _duration(row["mtta_seconds"]), _duration(row["mttr_seconds"])
        row["breaches"] = f"{row['ack_breach']}/{row['resolve_breach']}"
        for name in ("sla_breach_rate", "reopen_rate", "fcr_rate"):
            row[name] = _share(row[name])
    table(
        rows,
        [
            ((group_by or "").upper() or "CASES", "key"),
            ("OPENED", "cases"),
            ("ACKED", "acknowledged"),
            ("RESOLVED", "resolved"),
            ("MTTA", "mtta"),
            ("MTTR", "mttr"),
            ("SLA BREACH", "sla_breach_rate"),
            ("BREACHED ACK/RES", "breaches"),
            ("REOPEN", "reopen_rate"),
            ("FCR", "fcr_rate"),
        ],
    )
    followup_rows(out, group_by)


@cases.command("simulate")
@click.argument("file")
@click.option("--now", help="ISO-8601 moment to simulate at (default: the service's clock)")
@json_option
@click.pass_obj
def cases_simulate(ctx: Ctx, file, now, as_json):
    """Dry run: what an alert_raised payload (JSON/YAML, - for stdin) would do; writes nothing."""
    out = call(ctx, "cases", "simulate_alert", read_document(file), now)
    if as_json:
        return emit_json(out)
    owner = out["assignee"] or {}
    click.echo(f"action: {out['action']}  case: {out['case_id'] or '(new)'}")
    click.echo(f"owner: {owner.get('kind', '-')} {owner.get('id', '')}  team: {out.get('team') or '-'}")
    click.echo(f"assignment ({out['assignment']['strategy'] or 'no strategy'}):")
    for line in out["assignment"]["explanation"]:
        click.echo(f"  {line}")
    terms = out["sla"]
    if terms:
        click.echo(f"SLA {terms['policy']} v{terms['version']} on {terms['calendar']}:")
        click.echo(f"  acknowledge by {terms['ack_due']}, resolve by {terms['resolve_due']}")
        for warning in terms["warnings"]:
            click.echo(f"  warning: {warning}")
    for step in out["escalation"]:
        who = ", ".join(f"{t['kind']} {t['id']}" for t in step.get("targets", [])) or step.get("state", "-")
        fires = step.get("fires_at") or step["due"]
        click.echo(f"  escalation r{step['round']}s{step['step']} {step['notify']} at {fires} → {who}")
    for n in out["notifications"]:
        to = n["recipient"]
        click.echo(f"notify {to['kind']} {to['id']}: {n['kind']} via {','.join(n['channels'])}")
