"""cxctl lexicon … and cxctl rules test --lexicon against the running services."""

import json

import yaml
from click.testing import CliRunner

from cxctl.main import cli
from tests.e2e.test_pipeline import feedback, stack  # noqa: F401 - the stack fixture

RULE = {
    "id": "complaints",
    "name": "投诉 / complaints",
    "level": "P3",
    "owner": {"kind": "person", "id": "li.na"},
    "channels": ["email"],
    "when": {"field": "category", "op": "eq", "value": "complaint"},
}


def run(amqp_uri, *args):
    result = CliRunner().invoke(cli, ["--amqp-uri", amqp_uri, *args])
    return result.exit_code, result.output


def test_cxctl_edits_the_lexicon_and_a_dry_run_shows_a_draft_before_it_is_saved(stack, cx_config, tmp_path):  # noqa: F811
    uri = cx_config["AMQP_URI"]
    rule_file = tmp_path / "rule.yaml"
    rule_file.write_text(yaml.safe_dump({"rules": [RULE]}, allow_unicode=True), encoding="utf-8")
    events = tmp_path / "events.jsonl"
    texts = ["客服一直打太极", "又打太极给快递", "还行吧", "我要投诉"]
    events.write_text(
        "\n".join(
            json.dumps(feedback(f"lx-{n}", nps=7, text=t, customer={"id": f"X{n}"}), ensure_ascii=False)
            for n, t in enumerate(texts)
        )
        + "\n",
        encoding="utf-8",
    )
    draft = tmp_path / "draft.yaml"
    draft.write_text(
        yaml.safe_dump([{"op": "add", "list": "complaint", "word": "打太极"}], allow_unicode=True)
    )

    code, out = run(
        uri, "rules", "test", str(rule_file), "--events", str(events), "--lexicon", str(draft), "--json"
    )
    assert code == 0, out
    report = json.loads(out[out.index("{") :])
    assert report["lexicons"]["live"]["rules"]["complaints"]["raised"] == 1  # 我要投诉 only
    assert report["lexicons"]["draft"]["rules"]["complaints"]["raised"] == 3
    code, out = run(uri, "rules", "test", str(rule_file), "--events", str(events), "--lexicon", str(draft))
    assert "lexicon / 词表 live (version 0): would raise / 将产生 complaints 1" in out
    assert "lexicon / 词表 draft (version 0): would raise / 将产生 complaints 3" in out
    code, out = run(uri, "lexicon", "analyze", "客服一直打太极", "--draft", str(draft))
    assert code == 0 and "category / 类别: complaint (打太极)" in out and "+ draft / 草稿" in out
    assert json.loads(run(uri, "lexicon", "show", "--json")[1])["entries"] == []  # a draft stores nothing

    code, out = run(
        uri, "lexicon", "add", "complaint", "打太极", "--reason", "agents report it", "--actor", "li.na"
    )
    assert code == 0 and "version 1 / 版本 1: add complaint 打太极" in out, out
    code, out = run(uri, "lexicon", "add", "complaint", "打太极", "--reason", "again")
    assert "unchanged / 未变更" in out
    code, out = run(uri, "lexicon", "analyze", "客服一直打太极")
    assert "category / 类别: complaint (打太极)" in out and "lexicon version / 词表版本: 1" in out
    code, out = run(uri, "lexicon", "show")
    assert "打太极" in out and "li.na" in out and "agents report it" in out
    code, out = run(uri, "rules", "test", str(rule_file), "--events", str(events), "--lexicon", str(draft))
    assert "live (version 1): would raise / 将产生 complaints 3" in out  # the saved word counts now

    code, out = run(uri, "lexicon", "remove", "negative", "慢", "--reason", "too many false alarms")
    assert code == 0 and "version 2" in out
    code, out = run(uri, "lexicon", "revert", "1", "--reason", "too broad")
    assert code == 0 and "version 3 / 版本 3: reverted / 已撤销 1" in out
    history = json.loads(run(uri, "lexicon", "history", "--json")[1])
    assert [(h["_id"], h["op"], h.get("reverts")) for h in history] == [
        (3, "revert", 1),
        (2, "remove", None),
        (1, "add", None),
    ]
    code, out = run(uri, "lexicon", "revert", "1", "--reason", "twice")
    assert code != 0 and "Conflict" in out and "revert that first" in out

    code, out = run(uri, "lexicon", "add", "complaint", "甩 锅", "--reason", "x")
    assert code != 0 and "word:" in out
    code, out = run(uri, "lexicon", "add", "aspects", "快递盒", "--reason", "x")
    assert code != 0 and "aspect:" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump([{"op": "add", "list": "slang", "word": "绝绝子"}], allow_unicode=True))
    code, out = run(uri, "rules", "test", str(rule_file), "--events", str(events), "--lexicon", str(bad))
    assert code != 0 and "edits[0].list:" in out


def test_cxctl_adds_an_aspect_code_its_term_and_a_rule_naming_it(stack, cx_config, tmp_path):  # noqa: F811
    uri = cx_config["AMQP_URI"]
    code, out = run(uri, "lexicon", "add-aspect", "installation_quality", "--zh", "安装质量", "--reason", "x")
    assert code != 0 and "--en" in out  # a label is required
    code, out = run(
        uri, "lexicon", "add-aspect", "Install", "--zh", "安装质量", "--en", "Installation", "--reason", "x"
    )
    assert code != 0 and "code:" in out, out
    args = ["--zh", "安装质量", "--en", "Installation quality", "--reason", "installers"]
    code, out = run(uri, "lexicon", "add-aspect", "installation_quality", *args)
    assert code == 0 and "version 1 / 版本 1: aspect / 方面 installation_quality (安装质量" in out, out
    code, out = run(uri, "lexicon", "add-aspect", "installation_quality", *args)
    assert code != 0 and "exists already" in out
    code, out = run(
        uri, "lexicon", "add", "aspects", "安装", "--aspect", "installation_quality", "--reason", "r"
    )
    assert code == 0 and "version 2" in out, out
    assert "installation_quality" in json.loads(run(uri, "lexicon", "show", "--json")[1])["aspects"]
    code, out = run(uri, "lexicon", "analyze", "安装师傅迟到了", "--json")
    assert "installation_quality" in json.loads(out[out.index("{") :])["aspects"]
    history = json.loads(run(uri, "lexicon", "history", "--list", "aspect_codes", "--json")[1])
    assert [(h["_id"], h["op"], h["word"]) for h in history] == [(1, "add_aspect", "installation_quality")]

    rule = {
        **RULE,
        "id": "install",
        "when": {"field": "aspects", "op": "contains", "value": "installation_quality"},
    }
    rule_file = tmp_path / "rule.yaml"
    rule_file.write_text(yaml.safe_dump({"rules": [rule]}, allow_unicode=True), encoding="utf-8")
    code, out = run(uri, "rules", "apply", str(rule_file))
    assert code == 0, out
    code, out = run(uri, "lexicon", "revert", "2", "--reason", "the term first")
    assert code == 0, out
    code, out = run(uri, "lexicon", "revert", "1", "--reason", "not needed")
    assert code != 0 and "Conflict" in out and "rule install" in out, out
