"""cxctl recipients … / cxctl deliveries … / cxctl notify …"""

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
    """Deprecated: cxctl people apply. Store a recipients file (refused once a people
    directory has been saved)."""
    summary = call(ctx, "notify", "apply_recipients", read_document(file))
    click.echo(f"people: {summary['people']}  teams: {summary['teams']}")


@click.group()
def deliveries():
    """The notification delivery log."""


@deliveries.command("list")
@click.option("--status", type=click.Choice(["scheduled", "held", "sending", "delivered", "failed"]))
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
            ("TO", "recipient.id"),
            ("CASE", "case_id"),
            ("SUBJECT", "subject"),
        ],
    )


# cxctl notify … --------------------------------------------------------------

KINDS = ("alert_raised", "case_assigned", "escalation_step", "sla_warning", "digest")
CHANNEL_NAMES = ("email", "wecom", "dingtalk", "feishu", "slack", "teams", "webhook")


@click.group()
def notify():
    """Notifications: test a channel, read the delivery log, preview and edit templates."""


@notify.command("test")
@click.argument("channel", type=click.Choice(CHANNEL_NAMES))
@click.option("--to", "to", required=True, help="recipient: person:ID, team:ID, or a person's ID")
@click.option("--kind", type=click.Choice(KINDS), default="alert_raised", show_default=True)
@json_option
@click.pass_obj
def notify_test(ctx: Ctx, channel, to, kind, as_json):
    """Send a real test message (the sample KIND) to RECIPIENT on CHANNEL, now.

    Quiet hours do not apply; retries and fallback do (see `cxctl notify log`).
    """
    rows = call(ctx, "notify", "send_test", channel, to, kind=kind)
    if as_json:
        return emit_json(rows)
    for row in rows:
        click.echo(f"{row['_id']}: {row['status']} after {row['attempts']} attempt(s)")
        for attempt in row["attempt_log"]:
            error = f"  {attempt['error']}" if attempt.get("error") else ""
            click.echo(
                f"  #{attempt['attempt']} {attempt['status']} {attempt.get('destination') or ''}{error}"
            )
        if row["status"] == "scheduled":
            click.echo(f"  next attempt at {row['next_attempt_at']:.0f} (epoch s): the sweep will retry it")
    failed = [r for r in rows if r["status"] == "failed"]
    if failed:
        raise click.ClickException(f"{len(failed)} delivery(ies) failed: {failed[0].get('last_error')}")


@notify.command("log")
@click.option("--status", type=click.Choice(["scheduled", "held", "sending", "delivered", "failed"]))
@click.option("--channel", type=click.Choice(CHANNEL_NAMES))
@click.option("--to", "recipient", help="recipient id (person or team)")
@click.option("--case", "case_id", help="case id")
@click.option("--limit", default=50, show_default=True)
@click.option("--attempts", "delivery_id", help="show every attempt of one delivery id")
@json_option
@click.pass_obj
def notify_log(ctx: Ctx, status, channel, recipient, case_id, limit, delivery_id, as_json):
    """The delivery log, newest first (one row per notification × channel × recipient)."""
    if delivery_id:
        doc = call(ctx, "notify", "get_delivery", delivery_id)
        if as_json:
            return emit_json(doc)
        table(
            doc["attempt_log"],
            [
                ("#", "attempt"),
                ("STATUS", "status"),
                ("HTTP", "http_status"),
                ("TO", "destination"),
                ("ERROR", "error"),
            ],
        )
        return
    rows = call(
        ctx,
        "notify",
        "list_deliveries",
        limit=limit,
        status=status,
        channel=channel,
        recipient=recipient,
        case_id=case_id,
    )
    if as_json:
        return emit_json(rows)
    table(
        rows,
        [
            ("STATUS", "status"),
            ("CHANNEL", "channel"),
            ("TO", "recipient.id"),
            ("KIND", "kind"),
            ("LEVEL", "level"),
            ("TRIES", "attempts"),
            ("CASE", "case_id"),
            ("ERROR", "last_error"),
            ("ID", "_id"),
        ],
    )


@notify.command("preview")
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("channel", type=click.Choice(CHANNEL_NAMES))
@click.option("--lang", "language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@click.option(
    "--payload", "payload_file", help="JSON/YAML notification context (default: the built-in sample)"
)
@click.option("--raw", is_flag=True, help="print what the vendor would receive")
@json_option
@click.pass_obj
def notify_preview(ctx: Ctx, kind, channel, language, payload_file, raw, as_json):
    """Render KIND for CHANNEL in a language, from a sample or --payload; nothing is sent."""
    payload = read_document(payload_file) if payload_file else None
    result = call(ctx, "notify", "preview", kind, channel, language, payload)
    if as_json:
        return emit_json(result)
    if raw:
        value = result["payload"]
        return click.echo(value if isinstance(value, str) else _json(value))
    click.echo(result["title"])
    click.echo("-" * 40)
    click.echo(result["body"])


@notify.command("simulate")
@click.argument("request_file", metavar="REQUEST.json")
@click.option("--now", help="ISO-8601 moment with offset deciding quiet hours (default: now)")
@json_option
@click.pass_obj
def notify_simulate(ctx: Ctx, request_file, now, as_json):
    """What a notification_requested payload in REQUEST.json would send, to whom, on
    which channel, held or not; nothing is sent or recorded."""
    rows = call(ctx, "notify", "simulate", read_document(request_file), now)
    if as_json:
        return emit_json(rows)
    for row in rows:
        to = f"{row['recipient']['kind']}:{row['recipient']['id']}"
        flags = [f"held until {row['release_at']}" if row["held_for_quiet_hours"] else "sent now"]
        flags += [row["bypass_reason"]] if row["bypass_reason"] else []
        flags += ["truncated"] if row["truncated"] else []
        flags += [f"fallback of {row['fallback_of']}"] if row["fallback_of"] else []
        flags += (
            [f"fails: {row['error']} → {row['fallback_channel'] or 'no fallback'}"] if row["error"] else []
        )
        click.echo(f"{row['channel']} → {to} [{row['language']}] {'; '.join(flags)}")
        click.echo(
            f"  template: {row['template']}"
            + (f" (error: {row['render_error']})" if row["render_error"] else "")
        )
        click.echo(f"  subject: {row['subject']}")
        body = row["body"]
        click.echo("  " + (body if isinstance(body, str) else _json(body)).replace("\n", "\n  "))


def _json(value) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, indent=2)


@notify.group("templates")
def templates():
    """Admin-edited templates (stored overrides of the built-in files)."""


@templates.command("list")
@json_option
@click.pass_obj
def templates_list(ctx: Ctx, as_json):
    rows = call(ctx, "notify", "list_templates")
    if as_json:
        return emit_json(rows)
    table(
        rows,
        [
            ("NAME", "name"),
            ("OVERRIDDEN", "overridden"),
            ("VERSION", "override.version"),
            ("BY", "override.by"),
        ],
    )


@templates.command("show")
@click.argument("name")
@click.pass_obj
def templates_show(ctx: Ctx, name):
    click.echo(call(ctx, "notify", "get_template", name)["source"])


@templates.command("save")
@click.argument("name")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--by", default="cxctl", show_default=True)
@click.option("--reason", default=None, help="why (kept with the version)")
@click.pass_obj
def templates_save(ctx: Ctx, name, file, by, reason):
    """Check and store FILE as template NAME (e.g. zh-CN/case_assigned.dingtalk.body.j2)."""
    saved = call(ctx, "notify", "save_template", name, file.read(), by=by, reason=reason)
    click.echo(f"saved {name} (version {saved['version']})")


@templates.command("delete")
@click.argument("name")
@click.option("--by", default="cxctl", show_default=True)
@click.option("--reason", default=None, help="why (kept with the version)")
@click.pass_obj
def templates_delete(ctx: Ctx, name, by, reason):
    """Revert NAME to the shipped file (a new version of its override record)."""
    call(ctx, "notify", "delete_template", name, by=by, reason=reason)
    click.echo(f"deleted the override of {name}; the built-in file applies")
