"""cxctl rules … / cxctl alerts …"""

from __future__ import annotations

import click

from cxctl.common import Ctx, call, emit_json, json_option, read_document, table


@click.group()
def rules():
    """Alert rules."""


@rules.command("apply")
@click.argument("file")
@click.option("--actor", default="cxctl", show_default=True)
@click.pass_obj
def rules_apply(ctx: Ctx, file, actor):
    """Validate and store the rules in FILE (YAML or JSON)."""
    summary = call(ctx, "alerts", "apply_rules", read_document(file), actor=actor)
    for key in ("created", "updated", "unchanged"):
        click.echo(f"{key}: {', '.join(summary[key]) or '-'}")


@rules.command("list")
@json_option
@click.pass_obj
def rules_list(ctx: Ctx, as_json):
    """List rules with their current version."""
    rows = call(ctx, "alerts", "list_rules")
    if as_json:
        return emit_json(rows)
    table(
        rows,
        [
            ("ID", "_id"),
            ("VER", "version"),
            ("LEVEL", "level"),
            ("ENABLED", "enabled"),
            ("OWNER", "owner.id"),
            ("NAME", "name"),
        ],
    )


@click.group()
def alerts():
    """Alerts raised by rules."""


@alerts.command("list")
@click.option("--level", type=click.Choice(["P1", "P2", "P3", "P4"]))
@click.option("--customer")
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_obj
def alerts_list(ctx: Ctx, level, customer, limit, as_json):
    """Most recent alerts first."""
    rows = call(ctx, "alerts", "list_alerts", limit=limit, level=level, customer_id=customer)
    if as_json:
        return emit_json(rows)
    table(
        rows,
        [
            ("ALERT", "_id"),
            ("LEVEL", "level"),
            ("RULE", "rule.id"),
            ("CUSTOMER", "customer.id"),
            ("RAISED", "raised_at"),
        ],
    )
