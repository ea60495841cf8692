"""Cut text to a vendor's size limit without breaking a character or a markdown construct.

The text is split into atoms: a link (``[t](u)``, Slack ``<u|t>``), bold
(``**b**``, ``*b*``), inline code, a fenced code block, an ``<at …>…</at>`` /
``<font …>…</font>`` tag, a ``<@id>`` mention, or one character. Whole atoms are
kept until the budget (minus the ellipsis) is spent, so a limit measured in
UTF-8 bytes never splits a multi-byte character and a link is kept whole or
dropped whole.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

ATOM = re.compile(
    r"""
    ```.*?```                       # fenced code block
  | \[[^\]\n]*\]\([^)\s]*\)         # [text](url)
  | <(?:https?|mailto)[^<>\n|]*\|[^<>\n]*>  # Slack <url|text>
  | <at\b[^>]*>[^<]*</at>           # Feishu / Teams mention
  | <font\b[^>]*>[^<]*</font>       # WeCom colour
  | <@[^<>\n]+>                     # WeCom / Slack mention
  | \*\*[^*\n]+\*\*                 # **bold**
  | \*[^*\n\s][^*\n]*\*             # Slack *bold*
  | `[^`\n]+`                       # inline code
  | .
    """,
    re.X | re.S,
)

ELLIPSIS = "…"

# Cuts made while ``recording_cuts()`` is active (a simulation asks whether a payload
# was truncated without each channel reporting it).
_CUTS: ContextVar[list[int] | None] = ContextVar("truncation_cuts", default=None)


@contextmanager
def recording_cuts() -> Iterator[list[int]]:
    """Collect, as a list of original sizes, every cut ``truncate`` makes inside the block."""
    cuts: list[int] = []
    token = _CUTS.set(cuts)
    try:
        yield cuts
    finally:
        _CUTS.reset(token)


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def characters(text: str) -> int:
    return len(text)


def json_bytes(text: str) -> int:
    """Bytes ``text`` takes inside a JSON string (escapes included), UTF-8."""
    return len(json.dumps(text, ensure_ascii=False).encode("utf-8")) - 2


def truncate(
    text: str, limit: int, measure: Callable[[str], int] = utf8_bytes, ellipsis: str = ELLIPSIS
) -> str:
    """``text`` if it fits in ``limit`` (as ``measure`` counts), else its longest
    whole-atom prefix followed by ``ellipsis``."""
    size = measure(text)
    if size <= limit:
        return text
    cuts = _CUTS.get()
    if cuts is not None:
        cuts.append(size)
    budget = limit - measure(ellipsis)
    if budget <= 0:
        return ""
    kept: list[str] = []
    used = 0
    for match in ATOM.finditer(text):
        atom = match.group()
        size = measure(atom)
        if used + size > budget:
            break
        kept.append(atom)
        used += size
    return "".join(kept).rstrip() + ellipsis


def fit(body: str, footer: str, limit: int, measure: Callable[[str], int] = utf8_bytes) -> str:
    """``body`` + ``footer`` within ``limit``; the footer (the link back to the
    case, the mentions) is never cut, the body gives way."""
    room = limit - measure(footer)
    return truncate(body, max(room, 0), measure) + footer
