"""cxctl recipients … / cxctl deliveries …"""

from __future__ import annotations

import click

from cxctl.common import Ctx, call, emit_json, json_option, read_document, table


@click.group()
def recipients():
    """People and teams who receive notifications."""


@recipients.command("apply")
@click.argument("file")
@click.pass_obj
def recipients_apply(ctx: Ctx, file):
    """Validate and store the recipients directory in FILE."""
    summary = call(ctx, "notify", "apply_recipients", read_document(file))
    click.echo(f"people: {summary['people']}  teams: {summary['teams']}")


@click.group()
def deliveries():
    """The notification delivery log."""


@deliveries.command("list")
@click.option("--status", type=click.Choice(["sending", "delivered", "failed"]))
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_obj
def deliveries_list(ctx: Ctx, status, limit, as_json):
    rows = call(ctx, "notify", "list_deliveries", limit=limit, status=status)
    if as_json:
        return emit_json(rows)
    table(
        rows,
        [
            ("STATUS", "status"),
            ("CHANNEL", "channel"),
            ("TO", "person"),
            ("CASE", "case_id"),
            ("SUBJECT", "subject"),
        ],
    )
