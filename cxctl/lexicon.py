"""cxctl lexicon …: the word lists an admin edits live (services/common/lexicon.py)."""

from __future__ import annotations

import click

from cxctl.common import Ctx, call, emit_json, json_option, read_document, table
from textanalysis import lexicon as lists


@click.group()
def lexicon():
    """Word lists of the text analysis: add or remove words and aspect codes live,
    versions, revert."""


reason_option = click.option("--reason", required=True, help="why (kept with the version)")
actor_option = click.option("--actor", default="cxctl", show_default=True)


def read_draft(path: str) -> list[dict]:
    """A draft lexicon file: a list of edits (``op``, ``list``, ``word``, ``aspect``), or
    ``{"edits": [...]}``; each checked here so an error names its place in the file."""
    document = read_document(path)
    edits = document.get("edits") if isinstance(document, dict) else document
    if not isinstance(edits, list):
        raise click.ClickException(f"{path}: a list of edits (op, list, word, aspect), or {{edits: [...]}}")
    for number, edit in enumerate(edits):
        try:
            lists.validate_edit(edit, aspects=None)  # the service knows the live codes
        except lists.LexiconError as exc:
            raise click.ClickException(f"{path}: edits[{number}].{exc}") from None
    return edits


@lexicon.command("show")
@json_option
@click.pass_obj
def show(ctx: Ctx, as_json):
    """The admin's additions and removals over the shipped lists, and the latest version."""
    overview = call(ctx, "alerts", "lexicon")
    if as_json:
        return emit_json(overview)
    click.echo(f"version / 版本: {overview['version']}   lists / 词表: {', '.join(overview['lists'])}")
    table(
        overview["entries"],
        [
            ("list/词表", "list"),
            ("word/词", "word"),
            ("state/状态", "state"),
            ("aspect/方面", "aspect"),
            ("version/版本", "version"),
            ("by/操作人", "actor"),
            ("at/时间", "at"),
            ("reason/原因", "reason"),
        ],
    )


def _edit(ctx: Ctx, op: str, list_name: str, word: str, aspect, reason: str, actor: str, as_json: bool):
    edit = {"op": op, "list": list_name, "word": word, **({"aspect": aspect} if aspect else {})}
    done = call(ctx, "alerts", "lexicon_edit", edit, reason, actor=actor)
    if as_json:
        return emit_json(done)
    if not done["changed"]:
        click.echo(f"unchanged / 未变更: {list_name} already says so / 词表已如此")
    else:
        click.echo(f"version {done['version']} / 版本 {done['version']}: {op} {list_name} {done['word']}")


@lexicon.command("add")
@click.argument("list_name", metavar="LIST", type=click.Choice(lists.LISTS))
@click.argument("word")
@click.option(
    "--aspect",
    help=f"the aspect code (aspects list): {', '.join(lists.ASPECTS)} or one added with add-aspect",
)
@reason_option
@actor_option
@json_option
@click.pass_obj
def add(ctx: Ctx, list_name, word, aspect, reason, actor, as_json):
    """Add WORD to LIST (a new version; every replica uses it within a minute)."""
    _edit(ctx, "add", list_name, word, aspect, reason, actor, as_json)


@lexicon.command("remove")
@click.argument("list_name", metavar="LIST", type=click.Choice(lists.LISTS))
@click.argument("word")
@reason_option
@actor_option
@json_option
@click.pass_obj
def remove(ctx: Ctx, list_name, word, reason, actor, as_json):
    """Take WORD out of LIST, shipped or added (a new version)."""
    _edit(ctx, "remove", list_name, word, None, reason, actor, as_json)


@lexicon.command("add-aspect")
@click.argument("code")
@click.option("--zh", "label_zh", required=True, help="the label in Chinese (zh-CN), e.g. 安装质量")
@click.option("--en", "label_en", required=True, help='the label in English, e.g. "Installation quality"')
@reason_option
@actor_option
@json_option
@click.pass_obj
def add_aspect(ctx: Ctx, code, label_zh, label_en, reason, actor, as_json):
    """Add the aspect code CODE ([a-z_]{2,40}) with its labels (a new version); then add
    its terms with ``add aspects TERM --aspect CODE``. Reverting the version takes the
    code away, refused while a term, a saved rule or a playbook names it."""
    labels = {"zh-CN": label_zh, "en": label_en}
    done = call(ctx, "alerts", "lexicon_add_aspect", code, labels, reason, actor=actor)
    if as_json:
        return emit_json(done)
    click.echo(
        f"version {done['version']} / 版本 {done['version']}: aspect / 方面 {code} ({label_zh}, {label_en})"
    )


@lexicon.command("history")
@click.option("--list", "list_name", type=click.Choice((*lists.LISTS, lists.CODES)))
@click.option("--limit", default=50, show_default=True)
@json_option
@click.pass_obj
def history(ctx: Ctx, list_name, limit, as_json):
    """The lexicon's versions, newest first: the edit, who, when, why."""
    rows = call(ctx, "alerts", "lexicon_history", limit, list_name)
    if as_json:
        return emit_json(rows)
    table(
        rows,
        [
            ("version/版本", "_id"),
            ("op/操作", "op"),
            ("reverts/撤销", "reverts"),
            ("list/词表", "list"),
            ("word/词", "word"),
            ("aspect/方面", "aspect"),
            ("by/操作人", "actor"),
            ("at/时间", "at"),
            ("reason/原因", "reason"),
        ],
    )


@lexicon.command("revert")
@click.argument("version", type=int)
@reason_option
@actor_option
@json_option
@click.pass_obj
def revert(ctx: Ctx, version, reason, actor, as_json):
    """Undo VERSION's edit (a new version); refused when a later edit changed the word."""
    done = call(ctx, "alerts", "lexicon_revert", version, reason, actor=actor)
    if as_json:
        return emit_json(done)
    click.echo(f"version {done['version']} / 版本 {done['version']}: reverted / 已撤销 {version}")


@lexicon.command("analyze")
@click.argument("text")
@click.option("--draft", type=click.Path(exists=True, dir_okay=False), help="a file of unsaved edits to try")
@json_option
@click.pass_obj
def analyze(ctx: Ctx, text, draft, as_json):
    """What the analysis makes of TEXT and why (with a draft of unsaved edits on top)."""
    result = call(ctx, "alerts", "analyze_text", text, read_draft(draft) if draft else None)
    if as_json:
        return emit_json(result)
    click.echo(f"words / 分词: {' '.join(result['words'])}")
    click.echo(
        f"sentiment / 情感: {result['sentiment']} ({result['source']}: {', '.join(result['drivers'])})"
    )
    click.echo(f"category / 类别: {result['category']} ({', '.join(result['category_cues'])})")
    terms = "; ".join(f"{a}: {', '.join(t)}" for a, t in result["aspect_terms"].items())
    click.echo(f"aspects / 方面: {terms}")
    draft_mark = " + draft / 草稿" if result["draft"] else ""
    click.echo(f"lexicon version / 词表版本: {result['lexicon_version']}{draft_mark}")


@click.group()
def model():
    """The polarity model learned from the customers' scored comments: versions, rollback."""


@model.command("list")
@click.option("--limit", default=20, show_default=True)
@json_option
@click.pass_obj
def model_list(ctx: Ctx, limit, as_json):
    """Model versions, newest first: when, on what, the held-out evaluation, used or why not."""
    listed = call(ctx, "profiles", "sentiment_models", limit)
    if as_json:
        return emit_json(listed)
    active = listed["active"]
    click.echo(f"in use / 使用中: {active if active is not None else 'none, lexicon only / 无，仅词表'}")
    rows = [
        {
            **v,
            "mark": "*" if v["_id"] == active else "",
            "accuracy": v["evaluation"].get("accuracy"),
            "held_out": v["evaluation"].get("examples"),
            "comments": v["window"].get("comments"),
        }
        for v in listed["versions"]
    ]
    table(
        rows,
        [
            ("", "mark"),
            ("no/编号", "_id"),
            ("model/模型", "model_version"),
            ("trained/训练时间", "trained_at"),
            ("by/来源", "by"),
            ("comments/评论数", "comments"),
            ("held-out/留出", "held_out"),
            ("accuracy/准确率", "accuracy"),
            ("decision/结论", "decision"),
        ],
    )


@model.command("retrain")
@actor_option
@json_option
@click.pass_obj
def model_retrain(ctx: Ctx, actor, as_json):
    """Retrain now on the recent scored comments (as the timer does)."""
    done = call(ctx, "profiles", "retrain_sentiment_model", actor=actor)
    if as_json:
        return emit_json(done)
    if not done["changed"]:
        click.echo(f"unchanged / 未变更: version {done['number']} ({done['model_version']})")
    else:
        used = "in use / 已启用" if done["used"] else "not used / 未启用"
        click.echo(f"version {done['number']} ({done['model_version']}): {used} — {done['decision']}")


@model.command("activate")
@click.argument("number", type=int)
@reason_option
@actor_option
@click.pass_obj
def model_activate(ctx: Ctx, number, reason, actor):
    """Use model version NUMBER (a rollback to an earlier one)."""
    done = call(ctx, "profiles", "activate_sentiment_model", number, reason, actor=actor)
    click.echo(f"in use / 使用中: {done['active']} (was / 原为 {done['previous']})")


@model.command("off")
@reason_option
@actor_option
@click.pass_obj
def model_off(ctx: Ctx, reason, actor):
    """Stop using a model: the lexicon alone decides polarity."""
    done = call(ctx, "profiles", "activate_sentiment_model", None, reason, actor=actor)
    click.echo(f"in use / 使用中: none, lexicon only / 无，仅词表 (was / 原为 {done['previous']})")
