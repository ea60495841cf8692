"""Shape checks for the third blind comment set (issue 21).

Only the file's shape is checked here, never the analyzer's accuracy on it: the set exists to
measure the classifier on text its authors never saw (see comments_blind3.md).
"""

import json
from collections import Counter
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "comments_blind3.jsonl"
KEYS = {"text", "sentiment", "trade", "complaint"}
WINDOW = 10


@pytest.fixture(scope="module")
def rows() -> list[dict[str, object]]:
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_every_line_is_a_json_object_with_the_four_keys(rows: list[dict[str, object]]) -> None:
    assert len(rows) == 500
    for row in rows:
        assert set(row) == KEYS
        assert isinstance(row["text"], str) and row["text"].strip()
        assert isinstance(row["trade"], str) and row["trade"]
        assert isinstance(row["complaint"], bool)


def test_label_counts(rows: list[dict[str, object]]) -> None:
    counts = Counter(row["sentiment"] for row in rows)
    assert counts == {"negative": 210, "positive": 210, "neutral": 80}


def test_complaint_only_on_negatives(rows: list[dict[str, object]]) -> None:
    wrong = [row["text"] for row in rows if row["complaint"] and row["sentiment"] != "negative"]
    assert wrong == []
    assert any(row["complaint"] for row in rows)


def test_at_least_twenty_trades(rows: list[dict[str, object]]) -> None:
    assert len({row["trade"] for row in rows}) >= 20


def shared_windows(texts: list[str]) -> dict[str, set[int]]:
    """Every 10-character window (or whole text, if shorter) found in more than one row."""
    seen: dict[str, set[int]] = {}
    for index, text in enumerate(texts):
        windows = {text[i : i + WINDOW] for i in range(len(text) - WINDOW + 1)} or {text}
        for window in windows:
            seen.setdefault(window, set()).add(index)
    return {window: found for window, found in seen.items() if len(found) > 1}


def test_shared_windows_finds_a_copied_phrase() -> None:
    assert shared_windows(["前面一句，物流还停在广州转运中心", "另一条物流还停在广州转运中心了"])
    assert shared_windows(["呵呵", "呵呵"])
    assert not shared_windows(["物流还停在广州", "停在广州转运中心"])


def test_no_two_rows_share_ten_consecutive_characters(rows: list[dict[str, object]]) -> None:
    texts = [str(row["text"]) for row in rows]
    assert shared_windows(texts) == {}
