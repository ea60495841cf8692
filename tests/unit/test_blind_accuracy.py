"""The blind set (tests/unit/fixtures/comments_blind.jsonl): text analysis on comments
written apart from the lexicon.

460 Chinese comments in the style of product and service reviews (200 negative, 200
positive, 60 neutral), written by a team member on 2026-12-06 from knowledge of how
customers write, before reading the lexicon's word lists, and committed before the
analyzer was looked at. Not real customers' words: an approximation of real reviews.

Measured 2026-12-06 with the lexicon alone: positive vs negative 90/400 = 22.5 %
(neutral counts as wrong; 298/400 called neutral), complaint recall 30/198 = 15.2 % at
precision 81.1 %, neutral rows called positive or negative 2/60. Measured again once the
review lexicon had landed (written without seeing this set): 264/400 = 66.0 % (122/400
called neutral), complaint recall 118/198 = 59.6 % at precision 91.5 %, neutral rows
called positive or negative 4/60. After the fact patterns (textanalysis/facts.py, written
without seeing either blind set): 291/400 = 72.8 % (99/400 called neutral), complaint
recall 132/198 = 66.7 % at precision 95.0 %, neutral rows called positive or negative 4/60.

The second blind set (comments_blind2.jsonl, comments_blind2.md: 500 comments over 18
trades, 210 negative, 210 positive, 80 neutral, written by another team member who never
saw the classifier) was measured first at d6fdb91, before the fact patterns: 287/420 =
68.3 %, complaint recall 110/210 = 52.4 % at precision 91.7 %, neutral rows called positive
or negative 6/80; after them 311/420 = 74.0 %, 125/210 = 59.5 % at 94.7 %, 6/80.

The third blind set (comments_blind3.jsonl, comments_blind3.md: 500 comments over 25
trades, 210 negative, 210 positive, 80 neutral; short curt replies, typos, sarcasm, narrated
facts; labelled ``complaint: true|false`` instead of a category, 181 complaints) was
written by a third team member who never saw the lexicon, and measured first at 956dd68:
271/420 = 64.5 % (116/420 called neutral), complaint recall 90/181 = 49.7 % at precision
69.2 %, neutral rows called positive or negative 14/80.

After the turns, cues and negation fixes of reviews_implicit_dev.jsonl (textanalysis/turns.py,
written by a helper who never opened a blind set; measured once, at e40149c): the first
set 298/400 = 74.5 %, complaint recall 139/198 = 70.2 % at 94.6 %, 4/60 neutral alarms; the
second 322/420 = 76.7 %, 133/210 = 63.3 % at 95.0 %, 7/80; the third 285/420 = 67.9 %,
100/181 = 55.2 % at 69.4 %, 14/80. The development set's own untouched third went from 67.5
to 85.5 %: its writer's words are easier for its writer's rules than others' words are.

After the second implicit pass (557ba4d) and the third pass on new trades
(reviews_dev3.jsonl, merged 2026-12-07, written by a helper who never opened a blind set;
it dropped two of its cues when this test failed on the first set's complaint precision),
measured once by the lead: the first set 304 → 309/400 = 77.2 %, complaint recall 144 →
148/198 = 74.7 % at precision 95.4 → 94.3 %, 3/60 neutral alarms; the second 326 → 329/420 =
78.3 %, 137 → 140/210 = 66.7 % at 95.1 → 95.2 %, 7/80; the third 290 → 296/420 = 70.5 %,
104 → 106/181 = 58.6 % at 70.7 → 70.2 %, 13/80.

The floors below sit a few points under the latest figures; they are meant to be raised
as the lexicon (or a learned classifier) improves, never lowered to let a change through.
"""

from collections import Counter

import pytest

from services.profiles.accuracy import (
    BLIND_SET,
    BLIND_SET_2,
    BLIND_SET_3,
    blind_evaluate,
    is_blind,
    load,
    main,
)
from textanalysis import text

POLAR_ACCURACY_FLOOR = 0.76
COMPLAINT_RECALL_FLOOR = 0.73
COMPLAINT_PRECISION_FLOOR = 0.94
NEUTRAL_ALARMS_CEILING = 4  # of 60
# the second blind set
POLAR_ACCURACY_FLOOR_2 = 0.77
COMPLAINT_RECALL_FLOOR_2 = 0.65
COMPLAINT_PRECISION_FLOOR_2 = 0.94
NEUTRAL_ALARMS_CEILING_2 = 8  # of 80
# the third blind set (comments_blind3.md), measured first at 956dd68
POLAR_ACCURACY_FLOOR_3 = 0.69
COMPLAINT_RECALL_FLOOR_3 = 0.57
COMPLAINT_PRECISION_FLOOR_3 = 0.70
NEUTRAL_ALARMS_CEILING_3 = 14  # of 80


@pytest.fixture
def lexicon_alone():
    previous = text.active_model()
    text.use_model(None)
    try:
        yield
    finally:
        text.use_model(previous)


def shared_substring(texts: list[str], width: int = 10) -> tuple[str, str, str] | None:
    seen: dict[str, int] = {}
    for i, t in enumerate(texts):
        for k in range(len(t) - width + 1):
            piece = t[k : k + width]
            if seen.setdefault(piece, i) != i:
                return piece, texts[seen[piece]], t
    return None


def test_the_blind_set_is_balanced_varied_and_has_no_near_duplicates():
    rows = load(BLIND_SET)
    assert is_blind(rows)
    by_polarity = Counter(r["polarity"] for r in rows)
    assert by_polarity == {"negative": 200, "positive": 200, "neutral": 60}
    by_domain = Counter((r["domain"], r["polarity"]) for r in rows)
    domains = {d for d, _ in by_domain}
    assert len(domains) == 9
    assert all(by_domain[(d, p)] >= 20 for d in domains for p in ("negative", "positive"))
    polar = [r for r in rows if r["polarity"] != "neutral"]
    assert all(4 <= len(r["text"]) <= 120 for r in polar)
    assert max(len(r["text"]) for r in polar) >= 90
    assert all(r["category"] in ("complaint", "suggestion") for r in rows if r["polarity"] == "negative")
    assert all(r["category"] in ("praise", "suggestion") for r in rows if r["polarity"] == "positive")
    assert all(r["category"] in ("inquiry", "other") for r in rows if r["polarity"] == "neutral")
    texts = [r["text"] for r in rows]
    assert shared_substring(texts) is None, shared_substring(texts)
    assert sum(any(ch in t for ch in "這個質價壞裝銀務態問題") for t in texts) >= 8  # traditional
    assert sum(any(ord(ch) >= 0x1F300 for ch in t) for t in texts) >= 8  # emoji
    assert sum(any("a" <= ch.lower() <= "z" for ch in t) for t in texts) >= 15  # English words


def test_blind_figures_hold_their_floors(lexicon_alone):
    report = blind_evaluate(load(BLIND_SET))
    assert report.polar() == 400 and report.neutral_rows == 60
    assert report.polar_correct / report.polar() >= POLAR_ACCURACY_FLOOR, report.polar_correct
    assert report.complaint_caught / report.complaint_labelled >= COMPLAINT_RECALL_FLOOR
    assert report.complaint_caught / report.complaint_predicted >= COMPLAINT_PRECISION_FLOOR
    assert report.neutral_alarms <= NEUTRAL_ALARMS_CEILING, report.neutral_alarms


def test_the_second_blind_set_is_whole_and_holds_its_floors(lexicon_alone):
    rows = load(BLIND_SET_2)
    assert is_blind(rows, BLIND_SET_2) and not is_blind(rows)  # labelled ``sentiment``, found by name
    assert Counter(r["sentiment"] for r in rows) == {"negative": 210, "positive": 210, "neutral": 80}
    assert len({r["text"] for r in rows}) == 500 and len({r["trade"] for r in rows}) == 18
    report = blind_evaluate(rows)
    assert report.polar() == 420 and report.neutral_rows == 80
    assert report.polar_correct / report.polar() >= POLAR_ACCURACY_FLOOR_2, report.polar_correct
    assert report.complaint_caught / report.complaint_labelled >= COMPLAINT_RECALL_FLOOR_2
    assert report.complaint_caught / report.complaint_predicted >= COMPLAINT_PRECISION_FLOOR_2
    assert report.neutral_alarms <= NEUTRAL_ALARMS_CEILING_2, report.neutral_alarms


def test_the_third_blind_set_is_read_from_its_complaint_flags_and_holds_its_floors(lexicon_alone):
    rows = load(BLIND_SET_3)
    assert is_blind(rows, BLIND_SET_3)
    assert Counter(r["category"] for r in rows if r["complaint"]) == {"complaint": 181}
    assert not any(r["category"] == "complaint" for r in rows if not r["complaint"])
    report = blind_evaluate(rows)
    assert report.polar() == 420 and report.neutral_rows == 80 and report.complaint_labelled == 181
    assert report.polar_correct / report.polar() >= POLAR_ACCURACY_FLOOR_3, report.polar_correct
    assert report.complaint_caught / report.complaint_labelled >= COMPLAINT_RECALL_FLOOR_3
    assert report.complaint_caught / report.complaint_predicted >= COMPLAINT_PRECISION_FLOOR_3
    assert report.neutral_alarms <= NEUTRAL_ALARMS_CEILING_3, report.neutral_alarms


def test_the_command_prints_the_blind_figures_first(lexicon_alone, capsys):
    report = blind_evaluate(load(BLIND_SET))
    assert main([]) == 0
    out = capsys.readouterr().out
    first, second = out.split("\n", 2)[:2]
    assert first == f"== {BLIND_SET}"
    assert second.startswith("blind polarity accuracy, positive vs negative (neutral counts as wrong) ")
    assert f"{report.polar_correct}/400" in second
    assert out.index("comments_blind.jsonl") < out.index("comments_blind2.jsonl")
    assert out.index("comments_blind2.jsonl") < out.index("comments_blind3.jsonl")
    assert out.index("comments_blind3.jsonl") < out.index("comments_zh_labelled.jsonl")
    assert "complaint recall" in out and "neutral rows called positive or negative" in out
    assert "label \\ predicted" in out.split("== ", 2)[1]
