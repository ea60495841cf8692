"""The lexicon's admin answers, over the replica's LiveLexicon (services/common/lexicon.py):
the overlay and its versions, an edit, a revert, and what the analysis makes of a text,
with the live lexicon or a draft of unsaved edits on top of it."""

from __future__ import annotations

from services.common.errors import BadRequest
from services.common.lexicon import LexiconStore, LiveText, draft_analyzer
from services.common.mongo import jsonable
from textanalysis import lexicon as lists
from textanalysis.text import Analyzer

MAX_TEXT_CHARS = 5000
MAX_DRAFT_EDITS = 200


def overview(store: LexiconStore) -> dict:
    """The overlay's entries, the latest version, the lists and the aspect codes."""
    entries, version = store.overlay()
    return jsonable(
        {"version": version, "entries": entries, "lists": list(lists.LISTS), "aspects": list(lists.ASPECTS)}
    )


def draft_edits(edits) -> list[dict]:
    if edits is None:
        return []
    if not isinstance(edits, list) or len(edits) > MAX_DRAFT_EDITS:
        raise BadRequest(f"edits: a list of at most {MAX_DRAFT_EDITS} edits")
    return edits


def analyzer_for(live: LiveText, edits) -> tuple[Analyzer, bool]:
    """The replica's analyzer, or one with draft ``edits`` on top of the stored overlay
    (BadRequest naming the field of a wrong edit); and whether it is a draft."""
    edits = draft_edits(edits)
    if not edits:
        return live.analyzer, False
    entries, version = live.store.overlay()
    return draft_analyzer(entries, version, edits), True


def analyze_text(live: LiveText, text, edits=None) -> dict:
    """The analysis of ``text`` (sentiment, category, aspects, and the words behind them)
    with this replica's lexicon, or with draft ``edits`` on top of the stored overlay."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequest("text: a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise BadRequest(f"text: at most {MAX_TEXT_CHARS} characters")
    analyzer, draft = analyzer_for(live, edits)
    result = analyzer.analyze(text).summary()
    return {**result, "draft": draft, "words": list(analyzer.analyze(text).words)}
