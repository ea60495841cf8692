"""The implicit-negative development sets' shared checks (tests/unit/test_text_implicit*.py):
their parts, their labels, and the floors each part's figures must hold."""

from __future__ import annotations

from pathlib import Path

from services.profiles.accuracy import blind_evaluate, load


def part(path: Path, name: str) -> list[dict]:
    """The rows of one part (``"tune"`` or ``"held"``) of a development set."""
    return [row for row in load(path) if row["part"] == name]


def assert_categories_follow_sentiment(rows: list[dict]) -> None:
    """A negative row is a complaint, a positive one praise; neutral rows may be anything."""
    for row in rows:
        expected = {"negative": "complaint", "positive": "praise"}.get(row["sentiment"])
        assert row["category"] == expected or row["sentiment"] == "neutral"


def assert_meets_floors(rows: list[dict], floor: dict) -> None:
    report = blind_evaluate(rows)
    assert report.polar_correct / report.polar() >= floor["polarity"]
    assert report.rows("negative", "neutral") <= floor["neutralised"]
    assert report.complaint_caught / report.complaint_labelled >= floor["recall"]
    assert report.complaint_caught / report.complaint_predicted >= floor["precision"]
    assert report.neutral_alarms <= floor["alarms"]
