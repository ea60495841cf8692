"""cxctl cases …"""

from __future__ import annotations

import click

from cxctl.common import Ctx, call, emit_json, json_option, table


@click.group()
def cases():
    """Cases opened from alerts."""


@cases.command("list")
@click.option("--status")
@click.option("--assignee")
@click.option("--level", type=click.Choice(["P1", "P2", "P3", "P4"]))
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_obj
def cases_list(ctx: Ctx, status, assignee, level, limit, as_json):
    """Cases by urgency, newest first within a level."""
    rows = call(ctx, "cases", "list_cases", limit=limit, status=status, assignee=assignee, level=level)
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
    if case["event"].get("text"):
        click.echo(f"  text: {case['event']['text']}")
    click.echo("  why it fired:")
    for step in case.get("trace", []):
        mark = "✓" if step["result"] else "✗"
        click.echo(f"    {mark} {step['field']} {step['op']} {step['value']!r} (actual {step['actual']!r})")
    click.echo("  audit:")
    for entry in case.get("audit", []):
        click.echo(f"    {entry['at']}  {entry['action']}  by {entry['actor']}: {entry['why']}")
