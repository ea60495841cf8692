"""Comment classification accuracy on a labelled set: the figure and the confusion matrix.

``python -m services.profiles.accuracy [FILE.jsonl]`` (default: the 120 Chinese
comments of ``tests/data/comments_zh_labelled.jsonl``) classifies each ``text``
with the same analysis the profiles timeline stores (``insight.comment_insight``)
and prints overall accuracy, accuracy on the negation cases and per touchpoint,
and the confusion matrix (rows: label, columns: predicted).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from services.common.text import CATEGORIES
from services.profiles.insight import comment_insight

DEFAULT_SET = Path(__file__).resolve().parents[2] / "tests" / "data" / "comments_zh_labelled.jsonl"


@dataclass
class Report:
    total: int
    correct: int
    confusion: Counter  # (label, predicted) -> count
    by_group: dict[str, tuple[int, int]]  # group -> (correct, total)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def evaluate(rows: list[dict]) -> Report:
    confusion: Counter = Counter()
    groups: dict[str, list[int]] = {}
    for row in rows:
        insight = comment_insight(row["text"]) or {"category": "other"}
        predicted = insight["category"]
        confusion[(row["category"], predicted)] += 1
        hit = int(predicted == row["category"])
        names = [f"touchpoint {row.get('touchpoint', '-')}"]
        if row.get("negation"):
            names.append("negation cases")
        for name in names:
            tally = groups.setdefault(name, [0, 0])
            tally[0] += hit
            tally[1] += 1
    correct = sum(n for (label, predicted), n in confusion.items() if label == predicted)
    return Report(len(rows), correct, confusion, {k: (v[0], v[1]) for k, v in sorted(groups.items())})


def render(report: Report) -> str:
    lines = [f"category accuracy {report.correct}/{report.total} = {report.accuracy:.1%}"]
    for name, (ok, n) in report.by_group.items():
        lines.append(f"  {name:<28} {ok}/{n} = {ok / n:.1%}")
    width = max(len(c) for c in CATEGORIES) + 2
    lines.append("")
    lines.append("label \\ predicted".ljust(width + 8) + "".join(c[:10].rjust(12) for c in CATEGORIES))
    for label in CATEGORIES:
        counts = [report.confusion.get((label, p), 0) for p in CATEGORIES]
        if any(counts):
            lines.append(label.ljust(width + 8) + "".join(str(n).rjust(12) for n in counts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_SET
    print(render(evaluate(load(path))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
