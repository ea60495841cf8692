"""cxctl playbooks … and cxctl cases playbooks / use-playbook (标准解决方案)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click

from cxctl.common import Ctx, call, emit_json, json_option, read_document, table


@click.group()
def playbooks():
    """Standard solutions (标准解决方案): steps and a customer reply per kind of case."""


@playbooks.command("apply")
@click.argument("file")
@click.option("--by", required=True, help="who saves it (admin id)")
@click.option("--why", help="why it changed (kept with the version)")
@click.pass_obj
def playbooks_apply(ctx: Ctx, file, by, why):
    """Save each playbook of a file ({playbooks: [...]} or one playbook) as a new version."""
    document = read_document(file)
    items = (
        document.get("playbooks") if isinstance(document, dict) and "playbooks" in document else [document]
    )
    if not isinstance(items, list) or not items:
        raise click.ClickException(f"{file}: playbooks: must be a non-empty list")
    for item in items:
        saved = call(ctx, "cases", "save_playbook", {"by": by, "why": why, "playbook": item})
        state = "saved" if saved["changed"] else "unchanged"
        click.echo(f"{saved['id']} v{saved['version']} {state} / {'已保存' if saved['changed'] else '未变'}")


@playbooks.command("list")
@json_option
@click.pass_obj
def playbooks_list(ctx: Ctx, as_json):
    """The playbook library."""
    rows = call(ctx, "cases", "list_playbooks")
    if as_json:
        return emit_json(rows)
    for row in rows:
        row["matches"] = _match_text(row["match"])
        row["state"] = "on" if row.get("enabled", True) else "off"
    table(
        rows,
        [
            ("ID", "id"),
            ("V", "version"),
            ("STATE", "state"),
            ("TITLE", "title.zh-CN"),
            ("MATCHES", "matches"),
        ],
    )


def _match_text(match: dict) -> str:
    parts = [f"{k}={','.join(v)}" for k, v in match.items() if v]
    return " ".join(parts)


def _echo_steps_and_reply(playbook: dict, reply: str, language: str, indent: str) -> None:
    for n, step in enumerate(playbook["steps"], 1):
        click.echo(f"{indent}{n}. {step[language]}")
    click.echo(f"{indent}reply / 回复: {reply}")


@playbooks.command("show")
@click.argument("playbook_id")
@click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
@json_option
@click.pass_obj
def playbooks_show(ctx: Ctx, playbook_id, language, as_json):
    """One playbook: what it matches, its steps and reply, its versions."""
    shown = call(ctx, "cases", "get_playbook", playbook_id)
    if as_json:
        return emit_json(shown)
    click.echo(f"{shown['id']} v{shown['version']}  {shown['title'][language]}")
    click.echo(f"  matches / 适用: {_match_text(shown['match'])}")
    _echo_steps_and_reply(shown, shown["reply"][language], language, "  ")
    for v in shown["versions"]:
        click.echo(f"  v{v['version']} {v['at']} {v['by']}: {v.get('why') or '-'}")


@playbooks.command("metrics")
@click.option("--days", default=30, show_default=True, help="uses in the last N days")
@json_option
@click.pass_obj
def playbooks_metrics(ctx: Ctx, days, as_json):
    """Per playbook: uses, resolution time, reopen rate, post-resolution CSAT."""
    since = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    out = call(ctx, "cases", "playbook_metrics", {"since": since})
    if as_json:
        return emit_json(out)
    table(
        out["playbooks"],
        [
            ("PLAYBOOK", "playbook_id"),
            ("USES", "uses"),
            ("CASES", "cases"),
            ("RESOLVED", "resolved"),
            ("MTTR_H", "mean_resolution_hours"),
            ("REOPEN", "reopen_rate"),
            ("CSAT", "post_resolution_csat"),
        ],
    )


def echo_suggestions(ctx: Ctx, case_id: str, language: str = "zh-CN") -> None:
    """For ``cxctl cases show``: the playbooks that fit, best first, one line each."""
    out = call(ctx, "cases", "suggest_playbooks", case_id)
    if not out["suggestions"]:
        return
    click.echo(f"  playbooks / 标准解决方案 (cxctl cases playbooks {case_id}):")
    for s in out["suggestions"]:
        why = ", ".join(f"{r['by']}={r['value']}" for r in s["reasons"])
        click.echo(f"    {s['id']} v{s['version']} {s['title'][language]}  ← {why}")


def suggest_command(group: click.Group) -> None:
    """``cxctl cases playbooks CASE`` and ``cxctl cases use-playbook CASE PLAYBOOK``."""

    @group.command("playbooks")
    @click.argument("case_id")
    @click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
    @json_option
    @click.pass_obj
    def case_playbooks(ctx: Ctx, case_id, language, as_json):
        """The playbooks that fit a case, best first, with the reply filled."""
        out = call(ctx, "cases", "suggest_playbooks", case_id)
        if as_json:
            return emit_json(out)
        click.echo(f"{case_id}  aspects / 反馈涉及: {', '.join(out['aspects']) or '-'}")
        if not out["suggestions"]:
            click.echo("  no playbook fits / 没有适用的标准解决方案")
        for s in out["suggestions"]:
            why = ", ".join(f"{r['by']}={r['value']}" for r in s["reasons"])
            click.echo(f"  {s['id']} v{s['version']} ({s['score']}) {s['title'][language]}  ← {why}")
            _echo_steps_and_reply(s, s["reply"][language], language, "     ")
        for u in out["used"]:
            click.echo(f"  used / 已使用: {u['playbook_id']} v{u['version']} by {u['by']} at {u['at']}")

    @group.command("use-playbook")
    @click.argument("case_id")
    @click.argument("playbook_id")
    @click.option("--by", required=True, help="who uses it (agent id)")
    @click.option("--send", is_flag=True, help="send the reply to the customer")
    @click.option("--language", type=click.Choice(["zh-CN", "en"]), default="zh-CN", show_default=True)
    @click.option("--use-id", help="idempotency key (a retry with it records nothing twice)")
    @json_option
    @click.pass_obj
    def use_playbook(ctx: Ctx, case_id, playbook_id, by, send, language, use_id, as_json):
        """Use a playbook on a case: the reply filled and recorded; --send sends it."""
        request = {
            "case_id": case_id,
            "playbook_id": playbook_id,
            "by": by,
            "send": send,
            "language": language,
        }
        if use_id:
            request["use_id"] = use_id
        out = call(ctx, "cases", "use_playbook", request)
        if as_json:
            return emit_json(out)
        state = "sent / 已发送" if out["sent"] else "filled, not sent / 已填写，未发送"
        click.echo(f"{out['playbook_id']} v{out['version']} on {out['case_id']}: {state}")
        click.echo(out["reply"])
