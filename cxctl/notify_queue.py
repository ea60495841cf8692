"""cxctl notify priority-queue: is notify's request queue a priority queue (P1 first),
and move an earlier version's queue over (services/notify/queue_upgrade.py)."""

from __future__ import annotations

import click
from kombu import Connection

from cxctl.broker import DEFAULT_API, queue_samples
from cxctl.common import Ctx, emit_json, json_option
from services.notify.queue_upgrade import REQUESTS_QUEUE, UpgradeRefused, inspect, upgrade

STATES = {
    "priority": "a priority queue: P1 requests go first",
    "oldest_first": "declared by an earlier version without x-max-priority: oldest first (see --apply)",
    "quorum": "a quorum queue: no broker priority on RabbitMQ 3.x (4.x serves P1 first)",
    "absent": "not declared yet: notify declares it as a priority queue when it starts",
}


@click.command("priority-queue")
@click.option(
    "--apply", "apply_", is_flag=True, help="move an oldest-first queue over (notify replicas stopped)"
)
@click.option("--api", default=DEFAULT_API, show_default=True, help="RabbitMQ management API (retry queues)")
@json_option
@click.pass_obj
def priority_queue(ctx: Ctx, apply_, api, as_json):
    """Show whether notify's request queue sends P1 first; with --apply, make it so
    without losing a request (stop every notify replica first; docs/notify.md)."""
    with Connection(ctx.amqp_uri) as connection:
        before = inspect(connection)
        result = {"queue": REQUESTS_QUEUE, "state": before.name, "messages": before.messages, "moved": 0}
        if apply_ and before.name == "oldest_first":
            retrying = sum(
                s.depth
                for s in queue_samples(ctx.amqp_uri, api)
                if s.name.startswith(f"{REQUESTS_QUEUE}.retry.")
            )
            try:
                result.update(upgrade(connection, retrying))
            except UpgradeRefused as exc:
                raise click.ClickException(str(exc)) from None
    if as_json:
        return emit_json(result)
    click.echo(f"{REQUESTS_QUEUE}: {STATES[result['state']]}")
    if apply_:
        click.echo(f"moved {result['moved']} waiting request(s)")
