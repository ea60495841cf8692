"""Comment classification accuracy: accuracy, per-class precision/recall/F1 and confusion matrices.

``python -m services.profiles.accuracy [FILE.jsonl ...] [--weak-labels EVENTS.jsonl]
[--model MODEL.json] [--save-model PATH]`` classifies each ``text`` with the same
analysis the profiles timeline stores (``insight.comment_insight``) and prints,
per labelled set, category and polarity accuracy, per-class precision / recall /
F1 and the confusion matrices (rows: label, columns: predicted).

Without FILE it reads, first, the blind set (``tests/unit/fixtures/comments_blind.jsonl``),
then the project's held-out set (``tests/data/comments_zh_labelled.jsonl``), the
development fixtures (``tests/unit/fixtures/comments_labelled.jsonl``) and the three sets
of reviews written with the review lexicon (``REVIEW_SETS``).
Polarity labels are a row's ``sentiment`` or ``polarity``; where a set has none, complaint
counts as negative and praise as positive (suggestions and inquiries carry no polarity label).

A set whose every row carries ``polarity`` (the blind set) also gets the blind figures
(``blind_evaluate``): accuracy on its positive and negative rows, where neutral counts as
wrong; the share of them called neutral; complaint recall at the precision reached over
the whole set; and false alarms on its neutral rows.

``--weak-labels`` trains a polarity model on the weak labels of a feedback-event
stream (``textanalysis.sentiment_model``), after keeping 20 % of its events
aside by event id, prints the model's figures on that held-out part, and
evaluates the sets with the model in use; ``--model`` loads a saved model instead.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from services.profiles.insight import comment_insight
from textanalysis import sentiment_model, text
from textanalysis.text import CATEGORIES, SENTIMENTS

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SET = ROOT / "tests" / "data" / "comments_zh_labelled.jsonl"
FIXTURE_SET = ROOT / "tests" / "unit" / "fixtures" / "comments_labelled.jsonl"
BLIND_SET = ROOT / "tests" / "unit" / "fixtures" / "comments_blind.jsonl"
# written blind by another team member on 2026-12-06 (comments_blind2.md); never tuned on
BLIND_SET_2 = ROOT / "tests" / "unit" / "fixtures" / "comments_blind2.jsonl"
# written blind by a third team member on 2026-12-06 (comments_blind3.md), labelled
# complaint true/false rather than by category; never tuned on
BLIND_SET_3 = ROOT / "tests" / "unit" / "fixtures" / "comments_blind3.jsonl"
# Reviews written for the project (docs/rules.md): the first set together with the review
# lexicon (tuned on), the second after its first pass, the third after its second pass and
# in other trades, each measured without tuning on it.
REVIEW_SETS = (
    ROOT / "tests" / "unit" / "fixtures" / "reviews_written_with_lexicon.jsonl",
    ROOT / "tests" / "unit" / "fixtures" / "reviews_written_after_tuning.jsonl",
    ROOT / "tests" / "unit" / "fixtures" / "reviews_written_last.jsonl",
)
DERIVED_POLARITY = {"complaint": "negative", "praise": "positive"}


@dataclass
class Confusion:
    """Counts of (label, predicted) over a fixed list of classes."""

    classes: tuple[str, ...]
    counts: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def correct(self) -> int:
        return sum(n for (label, predicted), n in self.counts.items() if label == predicted)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def per_class(self) -> dict[str, tuple[float, float, float, int]]:
        """class -> (precision, recall, F1, support), for classes labelled or predicted."""
        out = {}
        for c in self.classes:
            tp = self.counts.get((c, c), 0)
            labelled = sum(n for (label, _), n in self.counts.items() if label == c)
            predicted = sum(n for (_, p), n in self.counts.items() if p == c)
            if not labelled and not predicted:
                continue
            precision = tp / predicted if predicted else 0.0
            recall = tp / labelled if labelled else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            out[c] = (precision, recall, f1, labelled)
        return out

    def render(self, name: str) -> list[str]:
        lines = [f"{name} accuracy {self.correct}/{self.total} = {self.accuracy:.1%}"]
        lines.append(f"  {'class':<12}{'precision':>10}{'recall':>10}{'F1':>8}{'support':>9}")
        for c, (p, r, f1, n) in self.per_class().items():
            lines.append(f"  {c:<12}{p:>10.1%}{r:>10.1%}{f1:>8.3f}{n:>9}")
        width = max(len(c) for c in self.classes) + 10
        lines.append("label \\ predicted".ljust(width) + "".join(c[:10].rjust(12) for c in self.classes))
        for label in self.classes:
            row = [self.counts.get((label, p), 0) for p in self.classes]
            if any(row):
                lines.append(label.ljust(width) + "".join(str(n).rjust(12) for n in row))
        return lines


@dataclass
class Report:
    category: Confusion
    polarity: Confusion
    by_group: dict[str, tuple[int, int]]  # group -> (correct, total), category

    # The category figures, under the names earlier callers use.
    total = property(lambda self: self.category.total)
    correct = property(lambda self: self.category.correct)
    accuracy = property(lambda self: self.category.accuracy)
    confusion = property(lambda self: self.category.counts)


def load(path: Path) -> list[dict]:
    rows = []
    for number, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise ValueError(f"{path}:{number}: text: expected a string")
        if "category" not in row and isinstance(row.get("complaint"), bool):
            row["category"] = complaint_category(row)
        if row.get("category") not in CATEGORIES:
            raise ValueError(f"{path}:{number}: category: expected one of {', '.join(CATEGORIES)}")
        for key in ("sentiment", "polarity"):
            if key in row and row[key] not in SENTIMENTS:
                raise ValueError(f"{path}:{number}: {key}: expected one of {', '.join(SENTIMENTS)}")
        rows.append(row)
    return rows


def complaint_category(row: dict) -> str:
    """The category of a row labelled only ``complaint: true|false`` (the third blind
    set): complaint, else praise for a positive row and other for the rest; of its
    category figures only complaint recall and precision mean anything."""
    if row["complaint"]:
        return "complaint"
    return "praise" if row.get("sentiment") == "positive" else "other"


def polarity_label(row: dict) -> str | None:
    return row.get("sentiment") or row.get("polarity") or DERIVED_POLARITY.get(row["category"])


def insight_of(text_: str) -> dict:
    return comment_insight(text_) or {"category": "other", "sentiment": "neutral"}


@dataclass
class BlindReport:
    """A blind set's figures: each row's polarity label against what the analysis said."""

    polarity: Confusion  # every row, neutral ones included
    category: Confusion
    complaint_caught: int  # rows labelled complaint that came out complaint
    complaint_labelled: int
    complaint_predicted: int  # rows of any label that came out complaint
    negative_caught: int  # rows labelled negative that came out negative or complaint
    neutral_alarms: int  # neutral rows called positive or negative
    neutral_complaints: int  # neutral rows called complaint

    def rows(self, label: str, predicted: str | None = None) -> int:
        """Rows labelled ``label`` (and predicted as ``predicted``, if given)."""
        return sum(
            n
            for (lab, said), n in self.polarity.counts.items()
            if lab == label and (predicted is None or said == predicted)
        )

    def polar(self, predicted: str | None = None) -> int:
        """Positive and negative rows (predicted as ``predicted``, if given)."""
        return self.rows("positive", predicted) + self.rows("negative", predicted)

    @property
    def polar_correct(self) -> int:
        return self.rows("positive", "positive") + self.rows("negative", "negative")

    @property
    def neutral_rows(self) -> int:
        return self.rows("neutral")


def blind_evaluate(rows: list[dict]) -> BlindReport:
    """Figures of a set whose rows all carry ``polarity`` (positive, negative or neutral)."""
    polarity, category = Confusion(SENTIMENTS), Confusion(CATEGORIES)
    caught = labelled = predicted = negative_caught = alarms = neutral_complaints = 0
    for row in rows:
        insight = insight_of(row["text"])
        label, said = polarity_label(row), insight["sentiment"]
        polarity.counts[(label, said)] += 1
        category.counts[(row["category"], insight["category"])] += 1
        complaint = insight["category"] == "complaint"
        labelled += row["category"] == "complaint"
        predicted += complaint
        caught += complaint and row["category"] == "complaint"
        negative_caught += label == "negative" and (said == "negative" or complaint)
        alarms += label == "neutral" and said != "neutral"
        neutral_complaints += label == "neutral" and complaint
    return BlindReport(
        polarity, category, caught, labelled, predicted, negative_caught, alarms, neutral_complaints
    )


def share(part: int, whole: int) -> str:
    return f"{part}/{whole} = {part / whole:.1%}" if whole else f"{part}/0"


def render_blind(report: BlindReport) -> str:
    polar, negatives = report.polar(), report.rows("negative")
    caught, predicted = report.complaint_caught, report.complaint_predicted
    precision = f"{caught / predicted:.1%}" if predicted else "none predicted"
    lines = [
        f"blind polarity accuracy, positive vs negative (neutral counts as wrong) "
        f"{share(report.polar_correct, polar)}",
        f"  positive and negative rows called neutral {share(report.polar('neutral'), polar)}",
        f"  complaint recall {share(caught, report.complaint_labelled)} "
        f"at precision {precision} ({predicted} called complaint)",
        f"  negative rows caught by sentiment negative or category complaint "
        f"{share(report.negative_caught, negatives)}",
        f"  neutral rows called positive or negative {share(report.neutral_alarms, report.neutral_rows)}"
        f", called complaint {share(report.neutral_complaints, report.neutral_rows)}",
        "",
    ]
    lines += report.polarity.render("polarity (all rows)") + [""]
    lines += report.category.render("category")
    return "\n".join(lines)


def is_blind(rows: list[dict], path: Path | None = None) -> bool:
    """A blind set: every row labelled with a polarity (the first set's ``polarity``;
    the second's ``sentiment``, named ``comments_blind*``)."""
    if path is not None and Path(path).name.startswith("comments_blind"):
        return bool(rows) and all(polarity_label(row) for row in rows)
    return bool(rows) and all("polarity" in row for row in rows)


def evaluate(rows: list[dict]) -> Report:
    category, polarity = Confusion(CATEGORIES), Confusion(SENTIMENTS)
    groups: dict[str, list[int]] = {}
    for row in rows:
        insight = insight_of(row["text"])
        category.counts[(row["category"], insight["category"])] += 1
        if polarity_label(row):
            polarity.counts[(polarity_label(row), insight["sentiment"])] += 1
        hit = int(insight["category"] == row["category"])
        names = [f"touchpoint {row['touchpoint']}"] if row.get("touchpoint") else []
        if row.get("negation"):
            names.append("negation cases")
        for name in names:
            tally = groups.setdefault(name, [0, 0])
            tally[0] += hit
            tally[1] += 1
    return Report(category, polarity, {k: (v[0], v[1]) for k, v in sorted(groups.items())})


def render(report: Report) -> str:
    head, *rest = report.category.render("category")
    lines = [head]
    for name, (ok, n) in report.by_group.items():
        lines.append(f"  {name:<28} {ok}/{n} = {ok / n:.1%}")
    lines += rest + [""]
    if report.polarity.total:
        lines += report.polarity.render("polarity")
    return "\n".join(lines)


def weak_label_model(events_path: Path) -> tuple[sentiment_model.PolarityModel, dict]:
    """Train on 80 % of a feedback stream's weak labels; evaluate on the other 20 %."""
    events = [json.loads(line) for line in Path(events_path).read_text("utf-8").splitlines() if line.strip()]
    train_part, held_out = sentiment_model.split(events)
    model = sentiment_model.train(sentiment_model.weak_labels(train_part))
    evaluation = sentiment_model.evaluate(model, sentiment_model.weak_labels(held_out))
    evaluation["split"] = "sha256(event_id) % 100 < 20 held out"
    return model.with_evaluation(evaluation), evaluation


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.profiles.accuracy",
        description="Accuracy, per-class precision/recall/F1 and confusion matrices of comment "
        "classification on labelled JSON-lines sets (text, category, optional sentiment).",
    )
    parser.add_argument(
        "files", nargs="*", type=Path, help="labelled sets (default: held-out set, fixtures, review sets)"
    )
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--weak-labels", type=Path, metavar="EVENTS.jsonl", help="train on a feedback stream")
    model.add_argument("--model", type=Path, metavar="MODEL.json", help="use a saved polarity model")
    parser.add_argument("--save-model", type=Path, metavar="PATH", help="write the trained model as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sections: list[str] = []
    previous = text.active_model()
    try:
        if args.weak_labels:
            model, evaluation = weak_label_model(args.weak_labels)
            sections.append(
                f"model {model.version} (weak labels) on its held-out split: {json.dumps(evaluation)}"
            )
        elif args.model:
            model = sentiment_model.PolarityModel.from_json(args.model.read_text("utf-8"))
            sections.append(f"model {model.version} (loaded)")
        else:
            model = None
        if model is not None:
            if args.save_model:
                args.save_model.write_text(model.to_json(), "utf-8")
            text.use_model(model)
        files = args.files or [BLIND_SET, BLIND_SET_2, BLIND_SET_3, DEFAULT_SET, FIXTURE_SET, *REVIEW_SETS]
        for path in files:
            rows = load(path)
            body = render_blind(blind_evaluate(rows)) if is_blind(rows, path) else render(evaluate(rows))
            sections.append(body if len(files) == 1 and model is None else f"== {path}\n{body}")
    finally:
        text.use_model(previous)
    print("\n\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
