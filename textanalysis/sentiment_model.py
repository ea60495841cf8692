"""Polarity learned from a deployment's own scored comments (weak labels).

No licensed, labelled corpus of real Chinese comments ships in a package on the
registries (docs/rules.md, "Text analysis"), so each deployment learns its own
customers' words: a comment that came with NPS ≤ 6 or CSAT ≤ 2 is a weak negative
label, NPS ≥ 9 or CSAT 5 a weak positive. ``train`` fits a multinomial naive
Bayes over jieba words (negated words kept apart: ``!满意``) and character
bigrams; the model is plain data (``to_json`` / ``from_json``) with a version id
derived from its parameters, so a store can keep every version with its
evaluation. ``textanalysis.text.use_model`` plugs one into ``analyze``.

Pure code: no I/O, no service imports.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from textanalysis import text as textmod

CLASSES = ("negative", "positive")
FORMAT = "cx-polarity-nb/1"
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]+")


def weak_label(event: dict) -> str | None:
    """``negative`` / ``positive`` from a feedback event's scores, or None.

    NPS ≤ 6 or CSAT ≤ 2 is negative, NPS ≥ 9 or CSAT 5 positive; an event
    without a comment, without scores, in between (NPS 7-8, CSAT 3-4) or whose
    scores disagree (NPS 10 with CSAT 1) gives no label.
    """
    comment = event.get("text")
    scores = event.get("scores") or {}
    if not isinstance(comment, str) or not comment.strip() or not isinstance(scores, dict):
        return None
    nps, csat = scores.get("nps"), scores.get("csat")
    votes = set()
    if isinstance(nps, int) and not isinstance(nps, bool):
        votes.add("negative" if nps <= 6 else "positive" if nps >= 9 else None)
    if isinstance(csat, int) and not isinstance(csat, bool):
        votes.add("negative" if csat <= 2 else "positive" if csat == 5 else None)
    votes.discard(None)
    return votes.pop() if len(votes) == 1 else None


def weak_labels(events: Iterable[dict]) -> list[tuple[str, str]]:
    """``(comment, label)`` for every event that carries a weak label."""
    out = []
    for event in events:
        label = weak_label(event)
        if label:
            out.append((event["text"], label))
    return out


def features(tokens: Iterable[textmod.Token], text: str) -> frozenset[str]:
    """Binary features: words (``!`` marks a negated word) and CJK character bigrams."""
    out = {
        ("!" if t.negated else "") + t.word
        for t in tokens
        if t.word not in textmod.STOPWORDS and (len(t.word) > 1 or t.word in textmod.LEXICON_WORDS)
    }
    for run in _CJK_RUN.findall(text):
        out.update("~" + run[i : i + 2] for i in range(len(run) - 1))
    return frozenset(out)


def _readable(feature: str) -> str:
    return feature[1:] if feature.startswith("~") else "不" + feature[1:] if feature[0] == "!" else feature


class Vote(NamedTuple):
    """The model's polarity for one comment, with the features that drove it."""

    label: str
    probability: float
    drivers: tuple[str, ...]


@dataclass(frozen=True)
class PolarityModel:
    """A trained polarity model: per-class document counts and feature counts."""

    doc_counts: dict[str, int]
    feature_counts: dict[str, dict[str, int]]  # class -> feature -> documents with it
    alpha: float = 3.0
    trained_at: str | None = None
    evaluation: dict = field(default_factory=dict)
    _weights: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        vocab = set().union(*(self.feature_counts[c] for c in CLASSES))
        totals = {c: sum(self.feature_counts[c].values()) + self.alpha * len(vocab) for c in CLASSES}
        docs = sum(self.doc_counts.values())
        prior = math.log((self.doc_counts["negative"] + 1) / (self.doc_counts["positive"] + 1))
        # log-odds of negative vs positive per feature; absent features count as nothing
        weights = {
            f: math.log((self.feature_counts["negative"].get(f, 0) + self.alpha) / totals["negative"])
            - math.log((self.feature_counts["positive"].get(f, 0) + self.alpha) / totals["positive"])
            for f in vocab
        }
        body = json.dumps(self._params(), sort_keys=True, ensure_ascii=False).encode()
        version = "nb-" + hashlib.sha256(body).hexdigest()[:12]
        self._weights.update(weights=weights, prior=prior, docs=docs, version=version)

    @property
    def version(self) -> str:
        """Content-derived id: the same parameters always give the same version."""
        return self._weights["version"]

    def _params(self) -> dict:
        return {"doc_counts": self.doc_counts, "feature_counts": self.feature_counts, "alpha": self.alpha}

    def polarity(self, tokens: Iterable[textmod.Token], text: str) -> Vote | None:
        """The model's vote for an already segmented comment (None: no known feature)."""
        weights = self._weights["weights"]
        hits = [(f, weights[f]) for f in features(tokens, text) if f in weights]
        if not hits:
            return None
        log_odds = self._weights["prior"] + sum(w for _, w in hits)
        p_negative = 1.0 / (1.0 + math.exp(-max(min(log_odds, 50.0), -50.0)))
        label = "negative" if log_odds > 0 else "positive"
        sign = 1 if label == "negative" else -1
        strongest = sorted((f for f, w in hits if w * sign > 0), key=lambda f: (-weights[f] * sign, f))
        drivers = tuple(dict.fromkeys(_readable(f) for f in strongest))[:3]
        probability = p_negative if label == "negative" else 1.0 - p_negative
        return Vote(label, round(probability, 4), drivers)

    def predict(self, comment: str) -> Vote | None:
        return self.polarity(textmod.segment(comment), comment)

    def with_evaluation(self, evaluation: dict) -> PolarityModel:
        return replace(self, evaluation=dict(evaluation), _weights={})

    def to_json(self) -> str:
        """The model as JSON a store can hold (``from_json`` reads it back)."""
        body = {"format": FORMAT, "version": self.version, **self._params()}
        body.update(trained_at=self.trained_at, evaluation=self.evaluation)
        return json.dumps(body, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, data: str | bytes | dict) -> PolarityModel:
        """Read a model written by ``to_json``; a bad document raises ValueError naming the field."""
        body = json.loads(data) if isinstance(data, str | bytes) else data
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ValueError(f"format: expected {FORMAT!r}")
        for name in ("doc_counts", "feature_counts"):
            value = body.get(name)
            if not isinstance(value, dict) or set(value) != set(CLASSES):
                raise ValueError(f"{name}: expected an object with keys {', '.join(CLASSES)}")
        docs: dict = body["doc_counts"]
        counts: dict = body["feature_counts"]
        if not all(isinstance(docs[c], int) and docs[c] >= 0 for c in CLASSES):
            raise ValueError("doc_counts: expected counts ≥ 0")
        for c in CLASSES:
            if not isinstance(counts[c], dict) or not all(
                isinstance(n, int) and n > 0 for n in counts[c].values()
            ):
                raise ValueError(f"feature_counts.{c}: expected an object of counts > 0")
        alpha = body.get("alpha", 3.0)
        if not isinstance(alpha, int | float) or alpha <= 0:
            raise ValueError("alpha: expected a number > 0")
        model = cls(docs, counts, float(alpha), body.get("trained_at"), body.get("evaluation") or {})
        if body.get("version") not in (None, model.version):
            raise ValueError(f"version: {body['version']!r} does not match the parameters ({model.version})")
        return model


def train(
    examples: Iterable[tuple[str, str]],
    *,
    alpha: float = 3.0,
    min_count: int = 2,
    trained_at: str | None = None,
) -> PolarityModel:
    """Fit the model on ``(comment, label)`` pairs.

    Features seen in fewer than ``min_count`` comments are dropped (one customer's
    typo teaches nothing and bloats the stored model). ``alpha`` (additive smoothing)
    is high on purpose: a small stream teaches topics as well as opinions (师傅 shows
    up mostly in complaints), and strong smoothing keeps a topic word alone from
    reaching a confident vote, so 师傅上门很准时 stays neutral.
    """
    docs: Counter = Counter()
    per_class: dict[str, Counter] = {c: Counter() for c in CLASSES}
    for comment, label in examples:
        if label not in CLASSES:
            raise ValueError(f"label: expected one of {', '.join(CLASSES)}, got {label!r}")
        docs[label] += 1
        per_class[label].update(features(textmod.segment(comment), comment))
    seen = per_class["negative"] + per_class["positive"]
    kept = {f for f, n in seen.items() if n >= min_count}
    counts = {c: {f: n for f, n in sorted(per_class[c].items()) if f in kept} for c in CLASSES}
    return PolarityModel({c: docs[c] for c in CLASSES}, counts, alpha, trained_at)


def split(events: Iterable[dict], held_out_percent: int = 20) -> tuple[list[dict], list[dict]]:
    """Train / held-out split by a hash of ``event_id`` (stable across runs and replicas)."""
    train_part: list[dict] = []
    held_out: list[dict] = []
    for event in events:
        key = str(event.get("event_id", event.get("text", "")))
        bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100
        (held_out if bucket < held_out_percent else train_part).append(event)
    return train_part, held_out


def train_on_stream(events: Iterable[dict], trained_at: str) -> PolarityModel:
    """Train on 80 % of ``events``' weak labels (``split``) and attach the evaluation on
    the other 20 %, never trained on, with how many comments of each class it learned."""
    train_part, held_out = split(events)
    examples = weak_labels(train_part)
    model = train(examples, trained_at=trained_at)
    evaluation = evaluate(model, weak_labels(held_out))
    evaluation["trained_on"] = dict(Counter(label for _, label in examples))
    return model.with_evaluation(evaluation)


def worth_using(evaluation: dict, min_held_out: int, min_accuracy: float) -> tuple[bool, str]:
    """Whether a model with this held-out ``evaluation`` may be put to use, and why (not)."""
    held_out = evaluation.get("examples") or 0
    if held_out < min_held_out:
        return False, f"held-out split of {held_out} comments, fewer than {min_held_out}"
    accuracy = evaluation.get("accuracy") or 0.0
    if accuracy < min_accuracy:
        return False, f"held-out accuracy {accuracy:.1%} below {min_accuracy:.0%}"
    for label, recall in (evaluation.get("recall") or {}).items():
        if recall is None:
            return False, f"no {label} comment in the held-out split"
    return True, f"held-out accuracy {accuracy:.1%} on {held_out} comments"


def evaluate(model: PolarityModel, examples: Iterable[tuple[str, str]]) -> dict:
    """Accuracy and per-class recall of the model alone on labelled ``(comment, label)`` pairs."""
    total = correct = abstained = 0
    recall: dict[str, list[int]] = {c: [0, 0] for c in CLASSES}
    for comment, label in examples:
        vote = model.predict(comment)
        total += 1
        recall[label][1] += 1
        if vote is None:
            abstained += 1
        elif vote.label == label:
            correct += 1
            recall[label][0] += 1
    return {
        "examples": total,
        "accuracy": round(correct / total, 4) if total else None,
        "abstained": abstained,
        "recall": {c: round(ok / n, 4) if n else None for c, (ok, n) in recall.items()},
    }
