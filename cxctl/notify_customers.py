"""cxctl notify customers …: messages to customers, their opt-outs and what became of each."""

from __future__ import annotations

import click

from cxctl.common import Ctx, call, emit_json, json_option, table

OPT_OUT_CHANNELS = ("all", "sms", "email", "wechat_oa")
STATUSES = ("deferred", "scheduled", "sending", "sent", "refused", "failed")
# what each refusal code means, English / zh-CN (customer_message_outcome.reason)
REASONS = {
    "opted_out": "opted out / 客户已退订",
    "fatigued": "contacted too often / 联系过于频繁",
    "quiet_hours_expired": "quiet hours outlast the deadline / 免打扰时段超过截止时间",
    "no_contact": "no usable contact / 无可用联系方式",
    "expired": "past its deadline / 已过截止时间",
}


def _labelled(row: dict) -> dict:
    reason = row.get("reason")
    if row.get("status") == "refused" and reason in REASONS:
        return {**row, "reason": f"{reason}: {REASONS[reason]}"}
    return row


@click.group("customers")
def customers():
    """Messages to customers (follow-up surveys, replies) and their opt-outs."""


def _consent_line(consent: dict) -> None:
    entries = consent.get("opt_out") or {}
    if not entries:
        click.echo(f"{consent['_id']}: no opt-out recorded")
        return
    for channel, entry in sorted(entries.items()):
        state = "opted out" if entry["opted_out"] else "opted in"
        why = f" ({entry['reason']})" if entry.get("reason") else ""
        click.echo(f"{consent['_id']} {channel}: {state} by {entry['by']} at {entry['at']}{why}")


@customers.command("opt-out")
@click.argument("customer_id")
@click.option("--channel", type=click.Choice(OPT_OUT_CHANNELS), default="all", show_default=True)
@click.option("--by", required=True, help="who records it (the agent, or the customer's request)")
@click.option("--reason", help="why, e.g. the customer asked on the phone")
@click.pass_obj
def opt_out(ctx: Ctx, customer_id, channel, by, reason):
    """Never contact CUSTOMER_ID on CHANNEL (or at all) until they opt in again."""
    _consent_line(call(ctx, "notify", "set_customer_opt_out", customer_id, channel, True, by, reason))


@customers.command("opt-in")
@click.argument("customer_id")
@click.option("--channel", type=click.Choice(OPT_OUT_CHANNELS), default="all", show_default=True)
@click.option("--by", required=True, help="who records it")
@click.option("--reason", help="why")
@click.pass_obj
def opt_in(ctx: Ctx, customer_id, channel, by, reason):
    """Withdraw CUSTOMER_ID's opt-out of CHANNEL (the history keeps both)."""
    _consent_line(call(ctx, "notify", "set_customer_opt_out", customer_id, channel, False, by, reason))


@customers.command("consent")
@click.argument("customer_id")
@json_option
@click.pass_obj
def consent(ctx: Ctx, customer_id, as_json):
    """CUSTOMER_ID's opt-outs, with who recorded them, when and why."""
    doc = call(ctx, "notify", "get_customer_consent", customer_id)
    if as_json:
        return emit_json(doc)
    _consent_line(doc)


@customers.command("messages")
@click.option("--status", type=click.Choice(STATUSES))
@click.option("--customer", "customer_id")
@click.option("--case", "case_id")
@click.option("--limit", default=50, show_default=True)
@click.option("--show", "message_id", help="one message with its decisions and attempts")
@json_option
@click.pass_obj
def messages(ctx: Ctx, status, customer_id, case_id, limit, message_id, as_json):
    """Messages to customers, newest first: sent on which channel, refused why, failed how."""
    if message_id:
        doc = call(ctx, "notify", "get_customer_message", message_id)
        if as_json:
            return emit_json(doc)
        click.echo(
            f"{doc['_id']}: {doc['status']} {doc.get('channel') or ''} {doc.get('reason') or ''}".rstrip()
        )
        table(
            doc["log"],
            [
                ("EVENT", "event"),
                ("CHANNEL", "channel"),
                ("STATUS", "status"),
                ("DETAIL", "detail"),
                ("ERROR", "error"),
            ],
        )
        return
    rows = call(
        ctx,
        "notify",
        "list_customer_messages",
        limit=limit,
        status=status,
        customer_id=customer_id,
        case_id=case_id,
    )
    if as_json:
        return emit_json(rows)
    table(
        [_labelled(row) for row in rows],
        [
            ("STATUS", "status"),
            ("PURPOSE", "purpose"),
            ("CUSTOMER", "customer_id"),
            ("CHANNEL", "channel"),
            ("REASON", "reason"),
            ("TRIES", "attempts"),
            ("CASE", "case_id"),
            ("ID", "_id"),
        ],
    )


@customers.command("preview")
@click.argument("purpose", type=click.Choice(["followup_survey", "case_reply", "playbook_reply"]))
@click.argument("channel", type=click.Choice(["sms", "email", "wechat_oa"]))
@click.option("--lang", "language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@json_option
@click.pass_obj
def preview(ctx: Ctx, purpose, channel, language, as_json):
    """PURPOSE's message on CHANNEL from a sample context, nothing sent (register the SMS
    template with this wording and these variables)."""
    out = call(ctx, "notify", "preview_customer_message", purpose, channel, language)
    if as_json:
        return emit_json(out)
    if out.get("missing"):
        click.echo(f"! {channel} {out['missing']}")
    click.echo(f"subject: {out['subject']}\n\n{out['text']}")
    if channel == "sms":
        code = out["vendor"].get("TemplateCode") or "(none)"
        click.echo(f"\nvariables: {out['sms_params']}\ntemplate code: {code}")
