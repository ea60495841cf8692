"""Text insight hook: where comment classification and keywords plug in.

The shared Chinese text module (``services/common/text.py``, built separately)
will classify a comment (complaint / suggestion / inquiry / praise) and
extract its keywords. Until it lands this returns ``None`` and timeline
entries carry no ``insight``; once it exists, ``comment_insight`` returns its
result and every new feedback entry stores it as ``insight``. Entries stored
before that can be back-filled by re-running this function over the timeline.
"""

from __future__ import annotations

try:  # the shared module is optional until it lands
    from services.common import text as _text  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the other branch
    _text = None


def comment_insight(text: str | None) -> dict | None:
    """``{"category": ..., "keywords": [...]}`` for a comment, or None."""
    if not text or _text is None or not hasattr(_text, "analyse"):
        return None
    return _text.analyse(text)
