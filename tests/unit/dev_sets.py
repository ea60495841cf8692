"""The implicit-negative development sets' shared checks (tests/unit/test_text_implicit*.py):
their parts, their labels, and the floors each part's figures must hold."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from services.profiles.accuracy import blind_evaluate, load


def part(path: Path, name: str) -> list[dict]:
    """The rows of one part (``"tune"`` or ``"held"``) of a development set."""
    return [row for row in load(path) if row["part"] == name]


def assert_has_shape(
    path: Path,
    labels: dict[str, int],
    parts: dict[str, int],
    per_domain: tuple[set[str], dict[str, int]] | None = None,
) -> None:
    """The set's label and part counts, each domain's labels (``(domains, labels)``), no text
    twice, and categories that follow the sentiment."""
    rows = load(path)
    assert Counter(r["sentiment"] for r in rows) == labels
    assert Counter(r["part"] for r in rows) == parts
    if per_domain is not None:
        domains, each = per_domain
        assert {r["domain"] for r in rows} == domains
        for domain in domains:
            assert Counter(r["sentiment"] for r in rows if r["domain"] == domain) == each
    assert len({r["text"] for r in rows}) == len(rows)
    assert_categories_follow_sentiment(rows)


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
