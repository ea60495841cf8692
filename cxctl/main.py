"""cxctl: publish feedback and inspect rules, alerts, cases, profiles and deliveries.

Reads go through the services' RPC (never their collections); every read has
``--json``. Connection settings come from --amqp-uri or AMQP_URI.
"""

from __future__ import annotations

import sys
import time

import click

from contracts.feedback import InvalidFeedback, parse_feedback
from cxctl import (
    alerts,
    cases,
    incidents,
    lexicon,
    notify,
    notify_customers,
    notify_queue,
    people,
    playbooks,
    profiles,
    users,
)
from cxctl.broker import DEFAULT_API, ManagementApiError, queue_drains, wait_queues_idle
from cxctl.common import DEFAULT_AMQP, Ctx, call, emit_json, json_option
from cxctl.drain_view import Progress, queue_table
from cxctl.publish import FeedbackPublisher


@click.group()
@click.option("--amqp-uri", envvar="AMQP_URI", default=DEFAULT_AMQP, show_default=True)
@click.option("--timeout", default=15.0, show_default=True, help="RPC timeout, seconds")
@click.pass_context
def cli(ctx, amqp_uri, timeout):
    """Customer-experience alerting: command-line client."""
    ctx.obj = Ctx(amqp_uri, timeout)


@cli.command()
@click.argument("file", type=click.File("rb"))
@click.option("--check", is_flag=True, help="validate every line first; publish nothing if any is invalid")
@click.option("--progress/--no-progress", default=None, help="progress bar (default: when a TTY)")
@click.pass_obj
def publish(ctx: Ctx, file, check, progress):
    """Publish JSON-lines feedback events (FILE or - for stdin) to cx.feedback.

    Each line is published as-is, persistent, with publisher confirms; the
    routing key is feedback.<channel>. Invalid lines are published too unless
    --check is given: the services dead-letter them with a reason.
    """
    lines = [line.rstrip(b"\r\n") for line in file if line.strip()]
    if check:
        bad = []
        for n, line in enumerate(lines, 1):
            try:
                parse_feedback(line)
            except InvalidFeedback as exc:
                bad.append(f"line {n}: {exc.reason}")
        if bad:
            raise click.ClickException("invalid lines, nothing published:\n  " + "\n  ".join(bad))
    show = sys.stderr.isatty() if progress is None else progress
    started = time.monotonic()
    with FeedbackPublisher(ctx.amqp_uri) as publisher:
        if show:
            with click.progressbar(lines, label="publishing", file=sys.stderr) as bar:
                for line in bar:
                    publisher.publish(line)
        else:
            for line in lines:
                publisher.publish(line)
    elapsed = time.monotonic() - started
    click.echo(f"published {len(lines)} events in {elapsed:.1f}s (confirmed by the broker)")


# overview ------------------------------------------------------------------


api_option = click.option(
    "--api", envvar="RABBIT_API_URI", default=DEFAULT_API, show_default=True, help="RabbitMQ management API"
)


@cli.command()
@api_option
@json_option
@click.pass_obj
def stats(ctx: Ctx, api, as_json):
    """Summary: alerts by level, cases by owner, notifications, dead letters, queues."""
    data = {s: call(ctx, s, "stats") for s in ("alerts", "cases", "profiles", "notify")}
    try:
        drains = queue_drains(ctx.amqp_uri, api)
        data["queues"] = [d.as_json() for d in drains if d.depth]
    except ManagementApiError as exc:
        drains, data["queues"], data["queues_error"] = None, None, str(exc)
    if as_json:
        return emit_json(data)
    a, c, p, n = data["alerts"], data["cases"], data["profiles"], data["notify"]
    click.echo(f"events evaluated: {a['events_evaluated']}   profiles: {p['profiles']}")
    levels = ", ".join(f"{k} {v}" for k, v in sorted(a["by_level"].items()))
    click.echo(f"alerts: {a['alerts']}  ({levels or '-'})")
    throttled = ", ".join(f"{k} {v}" for k, v in sorted(a.get("suppressed_by_rule", {}).items()))
    click.echo(f"throttled matches / 限流抑制: {throttled or '-'}")
    owners = ", ".join(f"{k} {v}" for k, v in sorted(c["by_owner"].items(), key=lambda kv: -kv[1]))
    click.echo(f"cases: {c['cases']}  by owner: {owners or '-'}")
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(n["deliveries"].items()))
    channels = ", ".join(f"{k} {v}" for k, v in sorted(n["delivered_by_channel"].items()))
    click.echo(f"notifications: {outcomes or '-'}  (delivered by channel: {channels or '-'})")
    customers = n.get("customer_messages") or {}
    sent = ", ".join(f"{k} {v}" for k, v in sorted((customers.get("by_status") or {}).items()))
    refused = ", ".join(f"{k} {v}" for k, v in sorted((customers.get("refused_by_reason") or {}).items()))
    click.echo(f"customer messages / 客户消息: {sent or '-'}  (refused / 拒发: {refused or '-'})")
    dead = {}
    for part in (a, c, p, n):
        for queue, count in part.get("dead_letters", {}).items():
            dead[queue] = dead.get(queue, 0) + count
    click.echo(f"dead-lettered: {', '.join(f'{q} {v}' for q, v in sorted(dead.items())) or '-'}")
    if drains is None:
        click.echo(f"queues / 队列: unavailable / 不可用 — {data['queues_error']}")
    else:
        click.echo("\n".join(queue_table(drains)))


@cli.command("wait-idle")
@api_option
@click.option("--quiet", default=8.0, show_default=True, help="seconds the queues must stay empty")
@click.option("--timeout", "limit", default=300.0, show_default=True)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="each queue's depth, rate and ETA: redrawn in place on a terminal, else a line every 5 s",
)
@click.pass_obj
def wait_idle(ctx: Ctx, api, quiet, limit, progress):
    """Wait until every queue is empty (ready and unacked) for --quiet seconds.

    Dead-letter queues are shown but not waited for. Prints "idle" when done.
    """
    watch = None if progress is False else Progress(live=sys.stderr.isatty() if progress is None else True)
    try:
        idle = wait_queues_idle(ctx.amqp_uri, quiet=quiet, timeout=limit, api=api, watch=watch)
    except ManagementApiError as exc:
        raise click.ClickException(f"queues unavailable / 队列不可用 — {exc}") from None
    if not idle:
        raise click.ClickException(f"still busy after {limit}s")
    click.echo("idle")


playbooks.suggest_command(cases.cases)

for group in (
    alerts.rules,
    alerts.alerts,
    cases.cases,
    playbooks.playbooks,
    profiles.profile,
    notify.recipients,
    people.people,
    notify.deliveries,
    notify.notify,
    users.users,
    alerts.simulate,
    lexicon.lexicon,
    lexicon.model,
):
    cli.add_command(group)
cases.cases.add_command(incidents.incidents)  # cxctl cases incidents …
notify.notify.add_command(notify_queue.priority_queue)  # cxctl notify priority-queue
notify.notify.add_command(notify_customers.customers)


if __name__ == "__main__":
    cli()
