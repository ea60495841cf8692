"""cxctl: publish feedback and inspect rules, alerts, cases, profiles and deliveries.

Reads go through the services' RPC (never their collections); every read has
``--json``. Connection settings come from --amqp-uri or AMQP_URI.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlparse

import click
import requests
import yaml

from contracts.feedback import InvalidFeedback, parse_feedback
from cxctl.publish import FeedbackPublisher

DEFAULT_AMQP = "pyamqp://guest:guest@127.0.0.1:5672/"


class Ctx:
    def __init__(self, amqp_uri: str, timeout: float):
        self.amqp_uri = amqp_uri
        self.timeout = timeout

    @contextmanager
    def rpc(self):
        from nameko.standalone.rpc import ClusterRpcClient

        with ClusterRpcClient(uri=self.amqp_uri, timeout=self.timeout) as client:
            yield client


def call(ctx: Ctx, service: str, method: str, *args, **kwargs):
    """One RPC; remote BadRequest/NotFound become a clear CLI error."""
    from nameko.exceptions import RemoteError, RpcTimeout

    try:
        with ctx.rpc() as client:
            return getattr(getattr(client, service), method)(*args, **kwargs)
    except RemoteError as exc:
        if exc.exc_type in ("BadRequest", "NotFound"):
            lines = str(exc.value).split("; ")
            raise click.ClickException("\n  ".join([f"{exc.exc_type}:"] + lines)) from None
        raise click.ClickException(f"{service}.{method} failed: {exc}") from None
    except RpcTimeout:
        raise click.ClickException(
            f"no answer from the {service} service within {ctx.timeout}s (is it running?)"
        ) from None


def emit_json(data) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False))


def table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """Print rows as an aligned table; ``columns`` are (header, dotted key)."""

    def get(row, path):
        value = row
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, dict):
            return ",".join(f"{k}={v}" for k, v in value.items())
        return "" if value is None else str(value)

    cells = [[get(r, key) for _, key in columns] for r in rows]
    widths = [max([len(h)] + [_width(c[i]) for c in cells]) for i, (h, _) in enumerate(columns)]
    click.echo("  ".join(h.ljust(w) for (h, _), w in zip(columns, widths, strict=True)))
    for c in cells:
        click.echo("  ".join(_pad(v, w) for v, w in zip(c, widths, strict=True)))
    if not rows:
        click.echo("(none)")


def _width(text: str) -> int:
    # CJK characters take two terminal columns
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def read_document(path: str):
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise click.ClickException(f"{path}: not valid YAML/JSON: {exc}") from None


json_option = click.option("--json", "as_json", is_flag=True, help="print JSON")


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


# rules ------------------------------------------------------------------


@cli.group()
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


# alerts, cases, profiles ---------------------------------------------------


@cli.group()
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


@cli.group()
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


@cli.group()
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


# notifications -----------------------------------------------------------


@cli.group()
def recipients():
    """People and teams who receive notifications."""


@recipients.command("apply")
@click.argument("file")
@click.pass_obj
def recipients_apply(ctx: Ctx, file):
    """Validate and store the recipients directory in FILE."""
    summary = call(ctx, "notify", "apply_recipients", read_document(file))
    click.echo(f"people: {summary['people']}  teams: {summary['teams']}")


@cli.group()
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


# overview ------------------------------------------------------------------


@cli.command()
@json_option
@click.pass_obj
def stats(ctx: Ctx, as_json):
    """Summary: alerts by level, cases by owner, notifications, dead letters."""
    data = {s: call(ctx, s, "stats") for s in ("alerts", "cases", "profiles", "notify")}
    if as_json:
        return emit_json(data)
    a, c, p, n = data["alerts"], data["cases"], data["profiles"], data["notify"]
    click.echo(f"events evaluated: {a['events_evaluated']}   profiles: {p['profiles']}")
    levels = ", ".join(f"{k} {v}" for k, v in sorted(a["by_level"].items()))
    click.echo(f"alerts: {a['alerts']}  ({levels or '-'})")
    owners = ", ".join(f"{k} {v}" for k, v in sorted(c["by_owner"].items(), key=lambda kv: -kv[1]))
    click.echo(f"cases: {c['cases']}  by owner: {owners or '-'}")
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(n["deliveries"].items()))
    channels = ", ".join(f"{k} {v}" for k, v in sorted(n["delivered_by_channel"].items()))
    click.echo(f"notifications: {outcomes or '-'}  (delivered by channel: {channels or '-'})")
    dead = {}
    for part in data.values():
        for queue, count in part.get("dead_letters", {}).items():
            dead[queue] = dead.get(queue, 0) + count
    click.echo(f"dead-lettered: {', '.join(f'{q} {v}' for q, v in sorted(dead.items())) or '-'}")


@cli.command("wait-idle")
@click.option(
    "--api",
    envvar="RABBIT_API_URI",
    default="http://guest:guest@127.0.0.1:15672",
    show_default=True,
    help="RabbitMQ management API",
)
@click.option("--timeout", "limit", default=300.0, show_default=True)
@click.pass_obj
def wait_idle(ctx: Ctx, api, limit):
    """Wait until every cx queue is empty and nothing is in flight."""
    parsed = urlparse(ctx.amqp_uri)
    vhost = quote(parsed.path.lstrip("/") or "/", safe="")
    api_url = urlparse(api)
    auth = (api_url.username or "guest", api_url.password or "guest")
    base = f"{api_url.scheme}://{api_url.hostname}:{api_url.port or 15672}"
    deadline = time.monotonic() + limit
    quiet = 0
    while time.monotonic() < deadline:
        queues = requests.get(f"{base}/api/queues/{vhost}", auth=auth, timeout=5).json()
        busy = sum(
            q.get("messages", 0)
            for q in queues
            if (q["name"].startswith(("cx.", "evt-")) and not q["name"].endswith(".dlq"))
        )
        quiet = quiet + 1 if busy == 0 else 0
        if quiet >= 3:  # the management API samples every few seconds
            click.echo("idle")
            return
        time.sleep(1.0)
    raise click.ClickException(f"still busy after {limit}s")


if __name__ == "__main__":
    cli()
