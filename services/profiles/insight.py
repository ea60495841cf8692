"""Text insight for timeline entries: classification, sentiment, keywords and aspects of a comment.

Uses the shared Chinese/English text module (``textanalysis/text.py``: jieba
segmentation with a domain dictionary and negation handling), the same analysis
the alerts service uses for its ``category`` and ``sentiment`` facts.
"""

from __future__ import annotations

from textanalysis.text import analyze


def comment_insight(text: str | None) -> dict | None:
    """``{"category", "sentiment", "keywords", "aspects", "why"}`` for a comment, or None
    without text. ``why`` names what drove the result: ``source`` (lexicon | model),
    ``drivers`` (the sentiment's words, 不满意 for a negated 满意, or a model's
    features), ``cues`` (the category's cue words), ``terms`` (each aspect's terms),
    ``negated`` words and the ``lexicon_version``."""
    if not text or not text.strip():
        return None
    analysis = analyze(text)
    summary = analysis.summary()
    why = {
        "source": analysis.source,
        "drivers": list(analysis.drivers),
        "cues": list(analysis.category_cues),
        "terms": summary["aspect_terms"],
        "negated": summary["negated"],
        "lexicon_version": analysis.lexicon_version,
        **({"model_version": analysis.model_version} if analysis.source == "model" else {}),
    }
    return {
        "category": analysis.category,
        "sentiment": analysis.sentiment,
        "keywords": list(analysis.keywords),
        "aspects": list(analysis.aspects),
        "why": why,
    }


def comment_aspects(text: str | None) -> tuple[str, ...]:
    """The aspect codes a comment is about (sorted; none without text). ``analyze`` is
    cached, so asking again for a comment whose entry was just built costs nothing."""
    if not text or not text.strip():
        return ()
    return analyze(text).aspects
