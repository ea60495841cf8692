"""Text insight for timeline entries: classification, sentiment, keywords and aspects of a comment.

Uses the shared Chinese/English text module (``textanalysis/text.py``: jieba
segmentation with a domain dictionary and negation handling), the same analysis
the alerts service uses for its ``category`` and ``sentiment`` facts.
"""

from __future__ import annotations

from textanalysis.text import analyze


def comment_insight(text: str | None) -> dict | None:
    """``{"category", "sentiment", "keywords", "aspects"}`` for a comment, or None without text."""
    if not text or not text.strip():
        return None
    analysis = analyze(text)
    return {
        "category": analysis.category,
        "sentiment": analysis.sentiment,
        "keywords": list(analysis.keywords),
        "aspects": list(analysis.aspects),
    }


def comment_aspects(text: str | None) -> tuple[str, ...]:
    """The aspect codes a comment is about (sorted; none without text). ``analyze`` is
    cached, so asking again for a comment whose entry was just built costs nothing."""
    if not text or not text.strip():
        return ()
    return analyze(text).aspects
