"""cxctl rules … / cxctl alerts …"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from contracts.base import utcnow
from cxctl.common import Ctx, call, emit_json, json_option, read_document, read_document_and_text, table
from services.alerts.explain import render_tree
from services.alerts.rules import RuleError, load_rules


@click.group()
def rules():
    """Alert rules."""


# An apply_rules call is bounded by RPC_MAX_BYTES (4 MiB) and RPC_MAX_ITEMS (10,000):
# a batch holds at most 500 rules (~0.2 MiB of typical rules) and at most 1 MiB.
RULES_PER_CALL = 500
BYTES_PER_CALL = 1024 * 1024


def rule_batches(document, per_call: int = RULES_PER_CALL, max_bytes: int = BYTES_PER_CALL) -> list[list]:
    """The rule set of a file, validated whole here first (errors name the rule's place
    in the file, and nothing is stored when one rule is wrong), in batches of at most
    ``per_call`` rules and about ``max_bytes`` (a single larger rule goes alone)."""
    load_rules(document)  # raises RuleError
    listed = document["rules"] if isinstance(document, dict) else document
    batches: list[list] = [[]]
    size = 0
    for rule in listed:
        weight = len(json.dumps(rule, ensure_ascii=False, default=str).encode("utf-8"))
        if batches[-1] and (len(batches[-1]) >= per_call or size + weight > max_bytes):
            batches.append([])
            size = 0
        batches[-1].append(rule)
        size += weight
    return batches


def apply_rule_set(apply, document, per_call: int = RULES_PER_CALL) -> dict:
    """Store a rule set of any size through ``apply`` (the ``apply_rules`` RPC), batch by
    batch; the summaries are merged. A batch is idempotent (unchanged rules keep their
    version), so a run cut off half-way is finished by running it again."""
    summary: dict[str, list] = {"created": [], "updated": [], "unchanged": []}
    for batch in rule_batches(document, per_call):
        for key, ids in apply({"rules": batch}).items():
            summary.setdefault(key, []).extend(ids)
    return summary


@rules.command("apply")
@click.argument("file")
@click.option("--actor", default="cxctl", show_default=True)
@click.pass_obj
def rules_apply(ctx: Ctx, file, actor):
    """Validate and store the rules in FILE (YAML or JSON), in batches when it is large."""
    try:
        summary = apply_rule_set(
            lambda batch: call(ctx, "alerts", "apply_rules", batch, actor=actor), read_document(file)
        )
    except RuleError as exc:
        raise click.ClickException("invalid rules:\n" + "\n".join(exc.errors)) from None
    for key in ("created", "updated", "unchanged"):
        click.echo(f"{key}: {', '.join(summary[key]) or '-'}")


@rules.command("list")
@click.option("--deleted", "include_deleted", is_flag=True, help="include soft-deleted rules")
@json_option
@click.pass_obj
def rules_list(ctx: Ctx, include_deleted, as_json):
    """List rules with their current version."""
    rows = call(ctx, "alerts", "list_rules", include_deleted=include_deleted)
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
            ("VER", "rule.version"),
            ("CUSTOMER", "customer.id"),
            ("COUNT", "count"),
            ("DEDUP KEY", "dedup.key"),
            ("RAISED", "raised_at"),
        ],
    )


def _print_result(result: dict) -> None:
    click.echo(
        f"{result['id']}@v{result['version']}"
        + ("" if result.get("changed", True) else "  (unchanged / 未变更)")
    )


@rules.command("create")
@click.argument("file")
@click.option("--actor", default="cxctl", show_default=True)
@click.pass_obj
def rules_create(ctx: Ctx, file, actor):
    """Create one rule from FILE (YAML or JSON); the file's text is kept with it, comments
    included (the console's rule editor shows it)."""
    document, text = read_document_and_text(file)
    _print_result(call(ctx, "alerts", "create_rule", document, actor=actor, source=text))


@rules.command("update")
@click.argument("rule_id")
@click.argument("file")
@click.option("--actor", default="cxctl", show_default=True)
@click.pass_obj
def rules_update(ctx: Ctx, rule_id, file, actor):
    """Replace RULE_ID's definition with FILE (a new version when it changed); the file's
    text is kept with it, as for create."""
    document, text = read_document_and_text(file)
    _print_result(call(ctx, "alerts", "update_rule", rule_id, document, actor=actor, source=text))


@rules.command("enable")
@click.argument("rule_id")
@click.option("--actor", default="cxctl", show_default=True)
@click.pass_obj
def rules_enable(ctx: Ctx, rule_id, actor):
    """Enable a rule (a new version)."""
    _print_result(call(ctx, "alerts", "set_rule_enabled", rule_id, True, actor=actor))


@rules.command("disable")
@click.argument("rule_id")
@click.option("--actor", default="cxctl", show_default=True)
@click.pass_obj
def rules_disable(ctx: Ctx, rule_id, actor):
    """Disable a rule (a new version)."""
    _print_result(call(ctx, "alerts", "set_rule_enabled", rule_id, False, actor=actor))


@rules.command("delete")
@click.argument("rule_id")
@click.option("--actor", default="cxctl", show_default=True)
@click.pass_obj
def rules_delete(ctx: Ctx, rule_id, actor):
    """Soft-delete a rule: it stops firing; versions and alerts are kept."""
    result = call(ctx, "alerts", "delete_rule", rule_id, actor=actor)
    click.echo(f"{result['id']}@v{result['version']} deleted / 已删除")


@rules.command("rollback")
@click.argument("rule_id")
@click.argument("version", type=int)
@click.option("--actor", default="cxctl", show_default=True)
@click.pass_obj
def rules_rollback(ctx: Ctx, rule_id, version, actor):
    """Make VERSION current again (as a new version equal to it)."""
    _print_result(call(ctx, "alerts", "rollback_rule", rule_id, version, actor=actor))


@rules.command("show")
@click.argument("rule_id")
@json_option
@click.pass_obj
def rules_show(ctx: Ctx, rule_id, as_json):
    """A rule, its versions (who, when, diff) and what its throttle suppressed."""
    shown = call(ctx, "alerts", "get_rule", rule_id)
    if as_json:
        return emit_json(shown)
    rule = shown["rule"]
    state = (
        "deleted / 已删除"
        if rule.get("deleted")
        else ("enabled / 启用" if rule["enabled"] else "disabled / 停用")
    )
    click.echo(f"{rule['_id']}@v{rule['version']}  {rule['level']}  {state}  {rule['name']}")
    click.echo(f"suppressed by throttle / 限流抑制: {shown['suppressed']}")
    for v in shown["versions"]:
        click.echo(f"\nv{v['version']}  {v['created_at']}  {v['created_by']}  {v['action']}")
        for line in v["diff"].splitlines()[2:]:
            click.echo(f"    {line}")


@rules.command("explain")
@click.argument("rule_id")
@click.argument("event_file")
@json_option
@click.pass_obj
def rules_explain(ctx: Ctx, rule_id, event_file, as_json):
    """Would RULE_ID fire on the event in EVENT_FILE, and why (no side effects)."""
    result = call(ctx, "alerts", "explain_event", rule_id, read_document(event_file))
    if as_json:
        return emit_json(result)
    verdict = "fires / 触发" if result["matched"] else "does not fire / 不触发"
    click.echo(f"{rule_id}@v{result['rule']['version']}: {verdict}")
    if result["outcome"]:
        click.echo(f"outcome / 结果: {result['outcome']}  dedup key / 去重键: {result['dedup_key']}")
    if result["facts"]:
        click.echo("facts / 派生事实: " + ", ".join(f"{k}={v}" for k, v in result["facts"].items()))
    for line in render_tree(result["tree"]):
        click.echo(line)


def _lexicon_analyzers(ctx: Ctx, draft_file: str | None) -> dict:
    """The live lexicon (the stored overlay) and the draft's edits on top of it."""
    from cxctl.lexicon import read_draft
    from services.common.errors import BadRequest
    from services.common.lexicon import draft_analyzer

    edits = read_draft(draft_file) if draft_file else []
    overview = call(ctx, "alerts", "lexicon")
    try:
        draft = draft_analyzer(overview["entries"], overview["version"], edits)
    except BadRequest as exc:
        raise click.ClickException(f"{draft_file}: {exc}") from None
    return {"live": draft_analyzer(overview["entries"], overview["version"], []), "draft": draft}


def _rules_argument(ctx: Ctx, rule: str) -> list[dict]:
    """RULE on the command line: a rule file (tested as written) or a stored rule id."""
    from services.alerts.rules import RuleError, load_rules

    if Path(rule).is_file():
        try:
            document = read_document(rule)
            if isinstance(document, dict) and "rules" not in document:
                document = [document]  # a file holding one rule
            return [dict(r, version=0) for r in load_rules(document)]
        except RuleError as exc:
            raise click.ClickException("\n  ".join(["invalid rule / 规则无效:"] + exc.errors)) from None
    stored = call(ctx, "alerts", "get_rule", rule)["rule"]
    return [{**stored, "id": stored["_id"]}]


@rules.command("test")
@click.argument("rule")
@click.option("--events", "events_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--lexicon",
    "draft_file",
    type=click.Path(exists=True, dir_okay=False),
    help="a draft of unsaved lexicon edits: the run compares the live lexicon with it",
)
@json_option
@click.pass_obj
def rules_test(ctx: Ctx, rule, events_file, draft_file, as_json):
    """Dry run RULE (a rule file or a stored rule id) over a JSON-lines file of events.

    Nothing is stored or sent: counts of alerts it would raise, repeats that
    would attach, throttled matches, customers, and examples. With ``--lexicon``,
    the rule runs twice, with the live lexicon and with the draft's edits on top,
    so the draft's effect shows before it is saved.
    """
    from services.alerts.dryrun import dry_run

    rules_ = _rules_argument(ctx, rule)
    analyzers = _lexicon_analyzers(ctx, draft_file) if draft_file else None
    path = Path(events_file)
    total = sum(1 for _ in path.open(encoding="utf-8"))
    with (
        path.open(encoding="utf-8") as lines,
        click.progressbar(length=total, label="evaluating / 评估中", file=sys.stderr) as bar,
    ):
        report = dry_run(rules_, lines, utcnow(), progress=bar.update, analyzers=analyzers)
    if as_json:
        return emit_json(report)
    for name, run in report.get("lexicons", {}).items():
        raised = ", ".join(f"{rule_id} {r['raised']}" for rule_id, r in run["rules"].items())
        click.echo(f"lexicon / 词表 {name} (version {run['version']}): would raise / 将产生 {raised}")
    click.echo(f"events / 事件: {report['events']}   invalid lines / 无效行: {len(report['invalid'])}")
    for bad in report["invalid"][:5]:
        click.echo(f"  line {bad['line']}: {bad['reason']}")
    for rule_id, r in report["rules"].items():
        click.echo(
            f"\n{rule_id}: would raise {r['raised']} alerts / 将产生 {r['raised']} 条预警"
            f"  (attached repeats / 合并重复 {r['attached']}, throttled / 限流 {r['suppressed']})"
        )
        if r["customers"]:
            click.echo("  customers / 客户: " + ", ".join(f"{c}×{n}" for c, n in r["customers"].items()))
        if r.get("groups"):
            click.echo("  groups / 分组: " + "; ".join(f"{g}×{n}" for g, n in r["groups"].items()))
        for ex in r["examples"]:
            click.echo(
                f"  e.g. {ex['occurred_at']}  {ex['customer']}  {ex['event_id']}  {(ex['text'] or '')[:40]}"
            )


@rules.command("backtest")
@click.argument("rule")
@click.option("--since", required=True, help="30d, 12h, or an ISO 8601 time")
@click.option("--until", default=None, help="default: now")
@click.option("--examples", default=10, show_default=True)
@click.option(
    "--lexicon",
    "draft_file",
    type=click.Path(exists=True, dir_okay=False),
    help="a draft of unsaved lexicon edits to replay with (default: the live lexicon)",
)
@json_option
@click.pass_obj
def rules_backtest(ctx: Ctx, rule, since, until, examples, draft_file, as_json):
    """Replay RULE (a stored rule id or a rule file) over the feedback the alerts
    service evaluated since SINCE: alerts it would have raised, for whom, examples.

    Nothing is stored or sent. The history is read page by page (a progress bar)
    and replayed here on scratch in-memory state, exactly as ``alerts.backtest``, with
    the live lexicon (or the ``--lexicon`` draft on top of it).
    """
    from contracts.feedback import parse_feedback
    from services.alerts.dryrun import backtest, lookback_seconds
    from services.common.mongo import jsonable

    tested, *more = _rules_argument(ctx, rule)
    if more:
        raise click.ClickException(f"{rule} holds {1 + len(more)} rules; backtest one at a time")
    lookback = lookback_seconds(tested)
    page = call(ctx, "alerts", "history_page", since, until, lookback=lookback)
    # the first page fixes the period: later pages must not move "now"
    start, end = datetime.fromisoformat(page["since"]), datetime.fromisoformat(page["until"])
    events = []
    with click.progressbar(length=page["total"], label="replaying / 回放中", file=sys.stderr) as bar:
        while page["events"]:
            events += [parse_feedback(e) for e in page["events"]]
            bar.update(len(page["events"]))
            page = call(
                ctx,
                "alerts",
                "history_page",
                page["since"],
                page["until"],
                after=page["next"],
                lookback=lookback,
            )
    analyzers = _lexicon_analyzers(ctx, draft_file)
    analyzer = analyzers["draft"] if draft_file else analyzers["live"]
    report = jsonable(
        backtest(
            tested, events, start, end, utcnow(), examples=examples, analyzer=analyzer, draft=bool(draft_file)
        )
    )
    if as_json:
        return emit_json(report)
    click.echo(
        f"{report['rule']['id']}@v{report['rule']['version']}  {report['since']} → {report['until']}\n"
        f"events / 事件: {report['events']}   matches / 命中: {report['matches']}   "
        f"alerts / 预警: {report['alerts']}   attached repeats / 合并重复: {report['suppressed']['dedup']}   "
        f"throttled / 限流: {report['suppressed']['throttle']}"
    )
    if report["customers"]:
        click.echo("customers / 客户: " + ", ".join(f"{c}×{n}" for c, n in report["customers"].items()))
    if report.get("groups"):
        click.echo("groups / 分组: " + "; ".join(f"{g}×{n}" for g, n in report["groups"].items()))
    for ex in report["examples"]:
        click.echo(
            f"\ne.g. {ex['occurred_at']}  {ex['customer']}  {ex['event_id']}  {(ex['text'] or '')[:40]}"
        )
        for line in render_tree(ex["tree"]):
            click.echo(f"  {line}")


@alerts.command("explain")
@click.argument("alert_id")
@json_option
@click.pass_obj
def alerts_explain(ctx: Ctx, alert_id, as_json):
    """Why an alert fired: the rule version's condition tree with each leaf's actual value."""
    result = call(ctx, "alerts", "explain_alert", alert_id)
    if as_json:
        return emit_json(result)
    alert = result["alert"]
    click.echo(
        f"{alert['_id']}  {alert['level']}  {alert['rule']['id']}@v{alert['rule']['version']}  "
        f"customer / 客户 {alert['customer']['id']}"
    )
    click.echo(
        f"dedup key / 去重键: {alert.get('dedup', {}).get('key')}   count / 次数: {alert.get('count', 1)}"
        f"   last seen / 最近: {alert.get('last_seen', {}).get('at')}"
    )
    group = alert.get("group")
    if group:
        key = ", ".join(f"{p}={v}" for p, v in group["key"].items())
        observed = ", ".join(f"{k}: {v}" for k, v in group["observed"].items())
        click.echo(f"group / 分组: {key}   {group['condition']} over / 窗口 {group['window']}   {observed}")
    storm = result.get("storm")
    if storm:
        click.echo(
            f"storm / 预警风暴: {storm['since']} – {storm['until']}   "
            f"max alerts / 上限 {storm['max_alerts']}   "
            f"alerts / 预警 {storm['alerts']} ({storm['alert_matches']} matches / 匹配)   "
            f"suppressed / 被抑制 {storm['suppressed']}   matches / 匹配总数 {storm['matches']}"
        )
    suppressed = result.get("suppressed") or {}
    if suppressed.get("count"):
        click.echo(f"suppressed matches / 被抑制的匹配: {suppressed['count']}")
        for match in suppressed.get("latest") or []:
            event = match.get("event") or {}
            click.echo(f"  {match.get('at')}  {match.get('customer', {}).get('id')}  {event.get('event_id')}")
    if alert.get("facts"):
        click.echo("facts / 派生事实: " + ", ".join(f"{k}={v}" for k, v in alert["facts"].items()))
    if result["tree"]:
        for line in render_tree(result["tree"]):
            click.echo(line)


@click.command("simulate")
@click.argument("event_file")
@click.option("--now", default=None, help="ISO 8601 time to simulate at (default: now)")
@json_option
@click.pass_obj
def simulate(ctx: Ctx, event_file, now, as_json):
    """What would happen to the feedback event in EVENT_FILE, end to end, with no
    side effects: rules that match and why, level, dedup key, create or attach,
    the case, assignee, SLA and escalation cases would set, and the messages
    notify would render per recipient and channel."""
    result = call(ctx, "alerts", "simulate", read_document(event_file), now)
    if as_json:
        return emit_json(result)
    rules_ = result["rules"]
    click.echo(
        f"{result['event']['source']}/{result['event']['event_id']} at {result['now']}: "
        f"{len(result['matches'])} of {rules_['enabled']} enabled rules match / 条规则命中 "
        f"({rules_['evaluated']} evaluated / 已评估)"
    )
    if result["facts"]:
        click.echo("facts / 派生事实: " + ", ".join(f"{k}={v}" for k, v in result["facts"].items()))
    for match in result["matches"]:
        rule = match["rule"]
        click.echo(
            f"\n{rule['id']}@v{rule['version']}  {match['level']}  would / 将: {match['would']}  "
            f"{match['alert_id']}\n  dedup key / 去重键: {match['dedup_key']}"
        )
        for line in render_tree(match["tree"]):
            click.echo(f"  {line}")
        if "cases" in match:
            _echo_case(match["cases"], match["notifications"])


def _echo_case(case: dict, notifications: list[dict]) -> None:
    if "error" in case:
        click.echo(f"  cases / 工单: {case['error']}")
        return
    where = f"{case['action']} {case.get('case_id') or ''}"
    click.echo(f"  cases / 工单: {where}  assignee / 负责人: {case.get('assignee')}")
    for line in (case.get("assignment") or {}).get("explanation", []):
        click.echo(f"    {line}")
    sla = case.get("sla")
    if sla:
        click.echo(f"  SLA: ack by / 响应 {sla.get('ack_due')}   resolve by / 解决 {sla.get('resolve_due')}")
    for step in case.get("escalation") or []:
        click.echo(
            f"  escalation / 升级: round {step.get('round')} at {step.get('fires_at') or step.get('due')}"
        )
    for item in notifications:
        request, to = item["request"], item["request"]["recipient"]
        via = ", ".join(request["channels"])
        click.echo(f"  notify / 通知: {request['kind']} → {to['kind']}:{to['id']} via {via}")
        if "error" in item:
            click.echo(f"    {item['error']}")
            continue
        for line in json.dumps(item["rendered"], ensure_ascii=False, indent=2).splitlines():
            click.echo(f"    {line}")
