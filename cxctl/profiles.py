"""cxctl profile …: show, search, segment, fatigue, export, merge, erase."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import click

from cxctl.common import Ctx, call, emit_json, json_option, table

now_option = click.option(
    "--now", default=None, help="ISO-8601 time the rolling windows end at (default: now)"
)
page_options = [
    click.option("--limit", default=20, show_default=True),
    click.option("--skip", default=0, show_default=True),
]


def paged(f):
    for option in reversed(page_options):
        f = option(f)
    return f


@click.group()
def profile():
    """Customer experience profiles (体验档案)."""


def _scores_line(kind: str, s: dict) -> str:
    def num(v):
        return "-" if v is None else f"{v:g}"

    line = (
        f"{kind.upper():<4} last {s['last']['value']} ({s['last']['at'][:10]})  "
        f"30d {num(s['avg_30d'])} (n={s['count_30d']})  90d {num(s['avg_90d'])} (n={s['count_90d']})"
    )
    t = s.get("trend")
    if t:
        arrow = {"up": "↑", "down": "↓", "flat": "→"}[t["direction"]]
        verdict = {True: "好转 better", False: "变差 worse", None: "持平 steady"}[t["better"]]
        line += f"  趋势 trend {arrow} {t['delta']:+g} vs previous 30d ({verdict})"
    return line


def _aspects_line(p: dict) -> str:
    """All-time aspect counts, then the most frequent of the last 30 and 90 days (codes)."""

    def listed(pairs) -> str:
        return ", ".join(f"{a}×{n}" for a, n in pairs) or "-"

    counts = sorted(p.get("aspect_counts", {}).items(), key=lambda kv: (-kv[1], kv[0]))
    recent = p.get("aspects_recent") or {}
    windows = "; ".join(
        f"{name.removeprefix('last_')}: {listed((r['aspect'], r['count']) for r in rows)}"
        for name, rows in recent.items()
    )
    return f"{listed(counts)}  ({windows})" if windows else listed(counts)


def _insight(insight: dict) -> str:
    """A comment's analysis and what drove it (profiles' ``insight``) in one line."""
    why = insight.get("why") or {}
    words = list(dict.fromkeys((why.get("cues") or []) + (why.get("drivers") or [])))
    terms = "; ".join(f"{code}: {', '.join(t)}" for code, t in (why.get("terms") or {}).items())
    line = f"分析 analysis: {insight.get('sentiment')}/{insight.get('category')}"
    if words:
        line += f"  依据 because: {', '.join(words)}"
    if terms:
        line += f"  方面 aspects: {terms}"
    return line


def _describe(entry: dict) -> str:
    kind = entry["kind"]
    if kind == "feedback":
        scores = " ".join(f"{k.upper()}={v}" for k, v in (entry.get("scores") or {}).items())
        return f"[{entry.get('channel', '')}] {scores} {entry.get('text', '')}".strip()
    if kind == "alert":
        return f"{entry.get('level', '')} {entry.get('rule', {}).get('name', '')}"
    if kind == "case_opened":
        return f"{entry['case_id']} {entry.get('level', '')} {entry.get('title', '')}"
    if kind == "case_milestone":
        return f"{entry['case_id']} {entry['from_status']} → {entry['to_status']} by {entry['changed_by']}"
    return ""


@profile.command("show")
@click.argument("customer_id")
@click.option("--timeline", "timeline_limit", default=20, show_default=True, help="timeline entries per page")
@click.option("--page", default=1, show_default=True, help="timeline page (newest first)")
@now_option
@json_option
@click.pass_obj
def profile_show(ctx: Ctx, customer_id, timeline_limit, page, now, as_json):
    """One customer's profile, rolling scores and recent timeline."""
    p = call(
        ctx,
        "profiles",
        "get_profile",
        customer_id,
        timeline_limit=timeline_limit,
        timeline_skip=(max(page, 1) - 1) * timeline_limit,
        now=now,
    )
    if as_json:
        return emit_json(p)
    identity = p.get("identity", {})
    merged = f"  (合并自 merged from: {', '.join(p['merged_ids'])})" if p.get("merged_ids") else ""
    click.echo(f"{p['_id']}  {identity.get('name', '')}  {identity.get('tier', '')}{merged}")
    if p.get("erased"):
        click.echo("  个人信息已删除 personal data erased")
    click.echo(f"  电话 phone: {identity.get('phone', '-')}  邮箱 email: {identity.get('email', '-')}")
    first, last = p.get("first_contact") or {}, p.get("last_contact") or {}
    click.echo(
        f"  首次联系 first contact: {first.get('at', '-')}  最近联系 last contact: {last.get('at', '-')} "
        f"via {last.get('channel', '-')}  feedback: {p.get('feedback_count', 0)}"
    )
    channels = ", ".join(
        f"{ch} {c['count']} (last {(c['last_at'] or '-')[:10]})"
        for ch, c in p.get("contacts_by_channel", {}).items()
    )
    click.echo(f"  渠道 contacts by channel: {channels or '-'}")
    click.echo(f"  体验评分 scores as of {p.get('scores_as_of', '')[:19]}:")
    for kind, s in p.get("scores", {}).items():
        click.echo(f"    {_scores_line(kind, s)}")
    if not p.get("scores"):
        click.echo("    -")
    counts = sorted(p.get("alert_counts", {}).items(), key=lambda kv: -kv[1])
    click.echo(f"  最常触发预警 most-triggered alerts: {', '.join(f'{k}×{v}' for k, v in counts) or '-'}")
    click.echo(f"  评论方面 aspects: {_aspects_line(p)}")
    for case in p.get("open_cases", []):
        title = case.get("title") or ""
        click.echo(f"  未结工单 open case: {case['case_id']} {case['level']} {case['status']} {title}")
    click.echo(f"  时间线 timeline (page {page}):")
    for entry in p.get("timeline", []):
        click.echo(f"    {entry['at'][:19]}  {entry['kind']:<14} {_describe(entry)[:70]}")
        if entry.get("insight"):
            click.echo(f"{'':37}{_insight(entry['insight'])}")


@profile.command("search")
@click.option("--name", default=None, help="part of the name")
@click.option("--phone", default=None, help="any format: +86 138-0013-8000 finds 13800138000")
@click.option("--email", default=None, help="case-insensitive")
@paged
@json_option
@click.pass_obj
def profile_search(ctx: Ctx, name, phone, email, limit, skip, as_json):
    """Find customers by name, phone or email (normalised)."""
    rows = call(
        ctx, "profiles", "search_profiles", name=name, phone=phone, email=email, limit=limit, skip=skip
    )
    if as_json:
        return emit_json(rows)
    table(
        rows,
        [
            ("customer", "_id"),
            ("name 姓名", "identity.name"),
            ("phone 电话", "identity.phone"),
            ("email 邮箱", "identity.email"),
            ("tier", "identity.tier"),
            ("last contact 最近联系", "last_contact.at"),
        ],
    )


@profile.command("segment")
@click.argument("segment", type=click.Choice(["detractors_with_open_case", "nps_drop", "no_contact"]))
@click.option("--tier", default=None, help="nps_drop: tier to watch (default vip)")
@click.option("--drop", type=float, default=None, help="nps_drop: fall of the 30-day NPS average (default 2)")
@click.option("--days", type=int, default=None, help="no_contact: days without contact (default 30)")
@now_option
@paged
@json_option
@click.pass_obj
def profile_segment(ctx: Ctx, segment, tier, drop, days, now, limit, skip, as_json):
    """Customers in a segment (贬损且有未结工单 / NPS 下降 / 久未联系)."""
    rows = call(
        ctx,
        "profiles",
        "list_segment",
        segment,
        limit=limit,
        skip=skip,
        tier=tier,
        drop=drop,
        days=days,
        now=now,
    )
    if as_json:
        return emit_json(rows)
    columns = [("customer", "_id"), ("name 姓名", "identity.name"), ("tier", "identity.tier")]
    if segment == "nps_drop":
        columns += [("prev 30d", "nps_trend.previous_30d_avg"), ("last 30d", "nps_trend.last_30d_avg")]
    elif segment == "no_contact":
        columns += [("last contact 最近联系", "last_contact.at"), ("channel", "last_contact.channel")]
    else:
        columns += [("NPS", "latest.nps.value")]
    table(rows, columns)
    if segment == "detractors_with_open_case":
        for row in rows:
            for case in row.get("open_cases", []):
                click.echo(f"  {row['_id']}: {case['case_id']} {case['level']} {case['status']}")


@profile.command("fatigue")
@click.argument("customer_id")
@click.option("--days", default=30, show_default=True)
@click.option("--limit", type=int, default=None, help="contacts allowed in the window")
@now_option
@json_option
@click.pass_obj
def profile_fatigue(ctx: Ctx, customer_id, days, limit, now, as_json):
    """How often the customer was contacted/surveyed lately (打扰频次)."""
    f = call(ctx, "profiles", "contact_fatigue", customer_id, days=days, limit=limit, now=now)
    if as_json:
        return emit_json(f)
    by_channel = ", ".join(f"{k} {v}" for k, v in sorted(f["by_channel"].items())) or "-"
    click.echo(
        f"{f['customer_id']}: {f['contacts']} contacts ({f['surveys']} surveys) in {f['days']} days "
        f"/ 近{f['days']}天联系{f['contacts']}次（调研{f['surveys']}次）; by channel: {by_channel}"
    )
    if f["fatigued"] is not None:
        click.echo("  已达打扰上限 over the limit" if f["fatigued"] else "  未达上限 within the limit")


@profile.command("trend")
@click.option("--since", required=True, help="ISO-8601 start (inclusive), e.g. 2026-11-01T00:00:00+08:00")
@click.option("--until", required=True, help="ISO-8601 end (exclusive)")
@click.option("--bucket", type=click.Choice(["day", "week"]), default="day", show_default=True)
@click.option("--segment", default=None, help="tier:NAME, channel:NAME or touchpoint:NAME")
@click.option("--tz", "timezone", default=None, help="IANA zone of the buckets (default Asia/Shanghai)")
@json_option
@click.pass_obj
def profile_trend(ctx: Ctx, since, until, bucket, segment, timezone, as_json):
    """Global NPS / CSAT / CES per day or week (体验趋势)."""
    t = call(ctx, "profiles", "score_trend", since, until, bucket=bucket, segment=segment, timezone=timezone)
    if as_json:
        return emit_json(t)

    def num(v):
        return "-" if v is None else f"{v:g}"

    for row in [*t["buckets"], {"start": "total 合计", **t["total"]}]:
        n, c, e = row["nps"], row["csat"], row["ces"]
        click.echo(
            f"{row['start']:<11} NPS {num(n['score']):>7} (n={n['count']}, +{n['promoters']} ={n['passives']}"
            f" -{n['detractors']})  CSAT {num(c['avg']):>5} (n={c['count']})"
            f"  CES {num(e['avg']):>5} (n={e['count']})"
        )


@profile.command("words")
@click.argument("customer_id", required=False)
@click.option("--since", default="30d", show_default=True, help="7d / 30d … before now, or ISO-8601")
@click.option("--until", default=None, help="ISO-8601 (default: now)")
@click.option("--limit", default=20, show_default=True)
@json_option
@click.pass_obj
def profile_words(ctx: Ctx, customer_id, since, until, limit, as_json):
    """Top comment keywords and category counts of CUSTOMER, or of everyone (高频词)."""
    f = call(
        ctx, "profiles", "word_frequency", customer_id, since=relative_time(since), until=until, limit=limit
    )
    if as_json:
        return emit_json(f)
    who = f["customer_id"] or "全部客户 everyone"
    click.echo(f"{who}: {f['comments']} comments {f['since']} … {f['until']}")
    click.echo("  " + "  ".join(f"{k} {n}" for k, n in f["categories"].items()))
    for row in f["keywords"]:
        click.echo(f"  {row['count']:>5}  {row['word']}")


def relative_time(value: str | None) -> str | None:
    """``30d`` / ``12h`` before now as ISO-8601; anything else is passed on as is."""
    match = re.fullmatch(r"(\d+)([dh])", value or "")
    if not match:
        return value
    unit = "days" if match[2] == "d" else "hours"
    return (datetime.now(UTC) - timedelta(**{unit: int(match[1])})).isoformat()


@profile.command("export")
@click.argument("customer_id")
@click.pass_obj
def profile_export(ctx: Ctx, customer_id):
    """Everything kept about one customer, as JSON (data-subject request)."""
    emit_json(call(ctx, "profiles", "export_customer", customer_id))


@profile.command("merge")
@click.argument("survivor")
@click.argument("merged")
@click.option("--by", required=True, help="who asks for the merge")
@click.option("--reason", required=True, help="why these ids are one person")
@json_option
@click.pass_obj
def profile_merge(ctx: Ctx, survivor, merged, by, reason, as_json):
    """Merge customer MERGED into SURVIVOR (same person, two ids). Safe to retry."""
    out = call(ctx, "profiles", "merge_customers", survivor, merged, by=by, reason=reason)
    if as_json:
        return emit_json(out)
    click.echo(
        f"已合并 merged {out['merged']} into {out['survivor']} "
        f"({out['timeline_entries_moved']} timeline entries moved)"
    )


@profile.command("recount")
@click.argument("customer_id")
@json_option
@click.pass_obj
def profile_recount(ctx: Ctx, customer_id, as_json):
    """Repair a profile's counters from its timeline (重新计数); safe at any time."""
    out = call(ctx, "profiles", "recount_profile", customer_id)
    if as_json:
        return emit_json(out)
    if not out["changed"]:
        click.echo(f"无需修复 nothing to repair on {out['customer_id']}")
    for field, (before, after) in out["changed"].items():
        click.echo(f"{out['customer_id']} {field}: {before} → {after}")


@profile.command("erase")
@click.argument("customer_id")
@click.option("--by", required=True, help="who carries out the request")
@click.option("--request-ref", required=True, help="the data-subject request's reference (no personal data)")
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
@json_option
@click.pass_obj
def profile_erase(ctx: Ctx, customer_id, by, request_ref, yes, as_json):
    """Erase one customer's personal data (删除个人信息); cannot be undone."""
    if not yes:
        click.confirm(f"删除 {customer_id} 的个人信息？ Erase {customer_id}'s personal data?", abort=True)
    out = call(ctx, "profiles", "erase_customer", customer_id, by=by, request_ref=request_ref)
    if as_json:
        return emit_json(out)
    click.echo(
        f"已删除 erased {out['customer_id']}: {out['timeline_entries_scrubbed']} timeline entries, "
        f"{out['dead_letters_scrubbed']} dead letters scrubbed"
    )
