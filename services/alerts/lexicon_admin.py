"""The lexicon's admin answers, over the replica's LiveLexicon (services/common/lexicon.py):
the overlay and its versions, an edit, a revert, and what the analysis makes of a text,
with the live lexicon or a draft of unsaved edits on top of it."""

from __future__ import annotations

from services.common.errors import BadRequest, Conflict
from services.common.lexicon import LexiconStore, LiveText, draft_analyzer
from services.common.mongo import jsonable
from textanalysis import lexicon as lists
from textanalysis.text import Analyzer

MAX_TEXT_CHARS = 5000
MAX_DRAFT_EDITS = 200


def overview(store: LexiconStore) -> dict:
    """The overlay's entries, the latest version, the lists, the live aspect codes and
    the labels of those an admin added (``aspect_labels``: code → {zh-CN, en})."""
    entries, version = store.overlay()
    added = lists.added_aspects(entries)
    return jsonable(
        {
            "version": version,
            "entries": entries,
            "lists": list(lists.LISTS),
            "aspects": list(lists.ASPECTS) + list(added),
            "aspect_labels": added,
        }
    )


def names_aspect(node, code: str) -> bool:
    """Whether a condition tree (or any part of a rule) names aspect ``code``."""
    if isinstance(node, dict):
        value = node.get("value")
        if node.get("field") == "aspects" and (value == code or (isinstance(value, list) and code in value)):
            return True
        return any(names_aspect(v, code) for v in node.values())
    if isinstance(node, list):
        return any(names_aspect(v, code) for v in node)
    return False


def aspect_users(rules: list[dict], ask, code: str) -> list[str]:
    """The saved rules (``rule <id>``) and playbooks (``playbook <id>``, asked of the
    cases service) that name ``code``. Conflict when the cases service cannot say."""
    users = [f"rule {r['_id']}" for r in rules if names_aspect(r.get("when"), code)]
    playbooks, reason = ask("cases", "playbooks_naming_aspect", code)
    if reason is not None:
        raise Conflict(f"version: the playbooks using {code!r} cannot be checked now ({reason}); retry")
    return users + [f"playbook {p}" for p in playbooks]


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
