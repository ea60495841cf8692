"""cxctl cases incidents …: incidents (parent cases opened by group alerts), their
children, and resolving an incident with its children."""

from __future__ import annotations

import click

from cxctl.common import Ctx, call, emit_json, json_option, table

STATUSES = ["active", "open", "assigned", "in_progress", "pending_customer", "resolved", "closed", "reopened"]


@click.group()
def incidents():
    """Incidents: a group alert's parent case and the customer cases it covers."""


def _counts(row: dict) -> str:
    counts = row.get("child_counts") or {}
    return f"{counts.get('total', 0)} ({counts.get('active', 0)} active)"


@incidents.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="a status, or active (not resolved or closed)")
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_obj
def incidents_list(ctx: Ctx, status, limit, as_json):
    """Incidents by level, newest first, with their children's counts."""
    rows = call(ctx, "cases", "list_incidents", limit=limit, status=status)
    if as_json:
        return emit_json(rows)
    for row in rows:
        row["children"] = _counts(row)
    table(
        rows,
        [
            ("INCIDENT", "_id"),
            ("LEVEL", "level"),
            ("STATUS", "status"),
            ("OWNER", "assignee.id"),
            ("CHILDREN", "children"),
            ("TITLE", "title"),
        ],
    )


@incidents.command("show")
@click.argument("case_id")
@json_option
@click.pass_obj
def incidents_show(ctx: Ctx, case_id, as_json):
    """An incident: its group, what was observed, its children and the audit trail."""
    case = call(ctx, "cases", "get_case", case_id)
    if as_json:
        return emit_json(case)
    if case.get("kind") != "incident":
        raise click.ClickException(f"{case_id} is not an incident (cxctl cases show {case_id})")
    group = case["group"]
    owner = (case.get("assignee") or {}).get("id", "-")
    click.echo(f"{case['_id']}  {case['level']}  {case['status']}  owner: {owner}")
    click.echo(f"  {case['title']}")
    key = ", ".join(f"{path}={group['key'].get(path)}" for path in group["by"])
    click.echo(f"  group: {key}")
    click.echo(f"  condition: {group['condition']} over {group['window']}  observed: {group['observed']}")
    click.echo(f"  rule: {case['rule']['id']} v{case['rule']['version']}  opened: {case['opened_at']}")
    if case.get("resolution"):
        click.echo(
            f"  resolution: {case['resolution']['root_cause']}  {case['resolution'].get('summary') or ''}"
        )
    click.echo(f"  children: {_counts(case)}")
    for child in case.get("children", []):
        owner = (child.get("assignee") or {}).get("id", "-")
        click.echo(
            f"    {child['_id']}  {child['level']}  {child['status']:<16} {owner:<12} {child['title']}"
        )
    click.echo("  audit:")
    for entry in case.get("audit", []):
        click.echo(f"    {entry['at']}  {entry['action']}  by {entry['actor']}: {entry['why']}")


@incidents.command("resolve")
@click.argument("case_id")
@click.option("--root-cause", required=True, help="a configured root-cause category")
@click.option("--summary", help="what was done (also each child's summary)")
@click.option(
    "--children/--no-children", default=False, show_default=True, help="resolve its open children too"
)
@click.option(
    "--fcr/--no-fcr", default=False, show_default=True, help="the incident resolved at first contact?"
)
@click.option("--by", required=True, envvar="CX_AGENT", help="who acts (or CX_AGENT)")
@click.option("--reason", help="why (kept in the audit trail)")
@json_option
@click.pass_obj
def incidents_resolve(ctx: Ctx, case_id, root_cause, summary, children, fcr, by, reason, as_json):
    """Resolve an incident; with --children each open child too (the normal resolve path:
    audit, status messages). Safe to run again: it finishes what is left."""
    request = {
        "case_id": case_id,
        "by": by,
        "root_cause": root_cause,
        "first_contact_resolution": fcr,
        "summary": summary,
        "reason": reason,
        "resolve_children": children,
    }
    result = call(ctx, "cases", "resolve_incident", {k: v for k, v in request.items() if v is not None})
    if as_json:
        return emit_json(result)
    done = result["children"]
    click.echo(f"{result['incident']['_id']}  {result['incident']['status']}")
    click.echo(
        f"  children resolved: {len(done['resolved'])}  already resolved: {len(done['already'])}  "
        f"failed: {len(done['failed'])}"
    )
    for failed in done["failed"]:
        click.echo(f"    {failed['case_id']}: {failed['error']}")
