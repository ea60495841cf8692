"""Playbooks, pure: validation naming the field, matching and ranking, the reply filled."""

from pathlib import Path

import pytest
import yaml

from services.cases import playbooks
from services.common.errors import BadRequest

SAMPLES = yaml.safe_load(
    (Path(__file__).parents[2] / "samples" / "playbooks.yaml").read_text(encoding="utf-8")
)


def doc(**changes):
    base = {
        "id": "late",
        "title": {"zh-CN": "配送延误", "en": "Late delivery"},
        "match": {"aspects": ["delivery"]},
        "steps": [{"zh-CN": "查物流", "en": "Check the parcel"}],
        "reply": {"zh-CN": "{customer_name}您好（{case_id}）", "en": "Hello {customer_name} ({case_id})"},
    }
    return {**base, **changes}


def refused(document) -> str:
    with pytest.raises(BadRequest) as caught:
        playbooks.load_playbook(document)
    return str(caught.value)


def test_the_samples_load():
    loaded = [playbooks.load_playbook(p) for p in SAMPLES["playbooks"]]
    assert [p["id"] for p in loaded] == ["late-delivery", "billing-correction", "staff-attitude"]
    assert loaded[0]["steps"][0]["en"].startswith("Look up")
    assert loaded[0]["channels"] == ["sms", "email"] and loaded[0]["enabled"] is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"match": {"aspects": ["teleportation"]}}, "playbook.match.aspects: unknown aspect 'teleportation'"),
        (
            {"match": {"root_causes": ["bad_luck"]}},
            "playbook.match.root_causes: unknown root cause 'bad_luck'",
        ),
        ({"match": {}}, "playbook.match.rules: name at least one of rules, aspects, root_causes"),
        ({"match": {"aspects": ["delivery"], "levels": ["P9"]}}, "playbook.match.levels.0"),
        (
            {"reply": {"zh-CN": "您好 {name}", "en": "Hi"}},
            "playbook.reply: zh-CN: unknown placeholder {name}",
        ),
        ({"reply": {"zh-CN": "您好", "en": "Hi {customer_name"}}, "playbook.reply: en:"),
        ({"reply": {"zh-CN": "您好"}}, "playbook.reply.en: Missing data"),
        ({"steps": []}, "playbook.steps:"),
        ({"channels": ["fax"]}, "playbook.channels.0"),
        ({"colour": "red"}, "playbook.colour: Unknown field"),
    ],
)
def test_an_invalid_playbook_is_refused_naming_the_field(changes, message):
    assert message in refused(doc(**changes))


def test_a_playbook_must_be_an_object():
    assert "playbook: must be an object" in refused(["late"])


def case(rule="detractor", level="P2", root_cause=None, name="张三"):
    return {
        "_id": "CASE-1",
        "title": "NPS 贬损者 · 张三",
        "level": level,
        "rule": {"id": rule, "version": 1, "name": "NPS 贬损者"},
        "customer": {"id": "C1", "name": name},
        "resolution": {"root_cause": root_cause} if root_cause else None,
    }


def test_suggestions_rank_rule_over_root_cause_over_aspect_and_skip_misfits():
    books = [
        playbooks.load_playbook(doc(id="by-aspect", match={"aspects": ["delivery", "price"]})),
        playbooks.load_playbook(doc(id="by-rule", match={"rules": ["detractor"]})),
        playbooks.load_playbook(doc(id="by-cause", match={"root_causes": ["delivery_delay"]})),
        playbooks.load_playbook(doc(id="p1-only", match={"aspects": ["delivery"], "levels": ["P1"]})),
        playbooks.load_playbook(doc(id="off", match={"aspects": ["delivery"]}, enabled=False)),
        playbooks.load_playbook(doc(id="billing", match={"aspects": ["billing"]})),
    ]
    found = playbooks.suggest(books, case(root_cause="delivery_delay"), ["delivery", "price"])
    assert [(s.playbook["id"], s.score) for s in found] == [("by-aspect", 4), ("by-rule", 4), ("by-cause", 3)]
    assert found[0].reasons == ({"by": "aspect", "value": "delivery"}, {"by": "aspect", "value": "price"})
    # a P1 case gets the P1 playbook too; nothing fits a case about nothing known
    assert "p1-only" in [s.playbook["id"] for s in playbooks.suggest(books, case(level="P1"), ["delivery"])]
    assert playbooks.suggest(books, case(rule="other"), []) == []
    assert len(playbooks.suggest(books, case(root_cause="delivery_delay"), ["delivery"], limit=1)) == 1


def test_the_reply_is_filled_for_the_case_in_each_language():
    book = playbooks.load_playbook(
        doc(reply={"zh-CN": "{customer_name}您好 {{工单}} {case_id} {agent}", "en": "Hi {customer_name}"})
    )
    assert playbooks.render_reply(book, case(), "zh-CN", "li.na") == "张三您好 {工单} CASE-1 li.na"
    assert playbooks.render_reply(book, case(name=None), "en", "li.na") == "Hi customer"
