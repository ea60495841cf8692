"""What a rule can read about one event: its fields and derived facts, computed lazily.

``Facts(event, first_contact=...)`` answers ``get("scores.nps")`` from the event and
``get("sentiment")`` / ``category`` / ``aspects`` / ``is_detractor`` / ``is_first_contact`` by
deriving them the first time a rule asks, then caching them for every other rule
evaluated on the same event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textanalysis import text as textmod
from textanalysis.text import Analyzer, TextAnalysis

MISSING = object()


def resolve(event: dict, path: str) -> Any:
    """Value at a dotted path of the event, or MISSING."""
    value: Any = event
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def is_detractor(event: dict) -> bool:
    """NPS 0-6; when the event has no NPS, CSAT 1-2."""
    scores = event.get("scores") or {}
    if scores.get("nps") is not None:
        return scores["nps"] <= 6
    return scores.get("csat") is not None and scores["csat"] <= 2


class Facts:
    """The event plus its derived facts; each derived fact is computed at most once."""

    def __init__(
        self, event: dict, first_contact: Callable[[], bool] | None = None, analyzer: Analyzer | None = None
    ):
        self.event = event
        # the replica's analyzer (its live lexicon: services/common/lexicon.py)
        self.analyzer = analyzer or textmod.current()
        self._first_contact = first_contact
        self._derived: dict[str, Any] = {}

    def text(self) -> TextAnalysis | None:
        text = self.event.get("text")
        return self.analyzer.analyze(text) if isinstance(text, str) and text.strip() else None

    def _derive(self, name: str) -> Any:
        if name in ("sentiment", "category"):
            analysis = self.text()
            return MISSING if analysis is None else getattr(analysis, name)
        if name == "aspects":  # a list, so contains_any / contains_all read it as items
            analysis = self.text()
            return MISSING if analysis is None else list(analysis.aspects)
        if name == "is_detractor":
            return is_detractor(self.event)
        if name == "is_first_contact":
            return MISSING if self._first_contact is None else self._first_contact()
        raise KeyError(name)

    def get(self, path: str) -> Any:
        if path in DERIVED:
            if path not in self._derived:
                self._derived[path] = self._derive(path)
            return self._derived[path]
        return resolve(self.event, path)

    def derived(self) -> dict[str, Any]:
        """The derived facts computed so far (for traces)."""
        return {k: v for k, v in self._derived.items() if v is not MISSING}


DERIVED = ("sentiment", "category", "aspects", "is_detractor", "is_first_contact")
