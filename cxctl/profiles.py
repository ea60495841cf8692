"""cxctl profile …"""

from __future__ import annotations

import click

from cxctl.common import Ctx, call, emit_json, json_option


@click.group()
def profile():
    """Customer experience profiles (体验档案)."""


@profile.command("show")
@click.argument("customer_id")
@click.option("--timeline", "timeline_limit", default=20, show_default=True)
@json_option
@click.pass_obj
def profile_show(ctx: Ctx, customer_id, timeline_limit, as_json):
    """One customer's profile and recent timeline."""
    p = call(ctx, "profiles", "get_profile", customer_id, timeline_limit=timeline_limit)
    if as_json:
        return emit_json(p)
    identity = p.get("identity", {})
    click.echo(f"{p['_id']}  {identity.get('name', '')}  {identity.get('tier', '')}")
    click.echo(f"  phone: {identity.get('phone', '-')}  email: {identity.get('email', '-')}")
    first, last = p.get("first_contact") or {}, p.get("last_contact") or {}
    click.echo(
        f"  first contact: {first.get('at', '-')}  last contact: {last.get('at', '-')} "
        f"via {last.get('channel', '-')}  feedback: {p.get('feedback_count', 0)}"
    )
    latest = ", ".join(f"{k.upper()} {v['value']}" for k, v in p.get("latest", {}).items())
    click.echo(f"  latest scores: {latest or '-'}")
    counts = sorted(p.get("alert_counts", {}).items(), key=lambda kv: -kv[1])
    click.echo(f"  most-triggered alerts: {', '.join(f'{k}×{v}' for k, v in counts) or '-'}")
    for case in p.get("open_cases", []):
        click.echo(f"  open case: {case['case_id']} {case['level']} {case['title']}")
    click.echo("  timeline:")
    for entry in p.get("timeline", []):
        what = entry.get("text") or entry.get("title") or entry.get("rule", {}).get("name", "")
        click.echo(f"    {entry['at']}  {entry['kind']:<12} {what[:60]}")
