"""Word lists of the text analysis: the shipped files plus an admin's live overlay.

The shipped lists live in ``textanalysis/lexicon/*.txt`` (see its README). An admin
adds or removes words at run time (services/common/lexicon.py stores the edits);
``merge(base_lists(), overlay)`` applies the overlay's entries on top of the files and
``Lexicon`` derives what ``textanalysis.text.Analyzer`` needs from the result.

An overlay entry is ``{"list", "word", "state": "added" | "removed", "aspect"}``:
``added`` puts the word in the list (for ``aspects``: the term with its aspect code),
``removed`` takes it out, whether the files or an earlier edit put it there.

Lists (``LISTS``): ``positive`` / ``negative`` sentiment words, ``complaint`` /
``suggestion`` / ``inquiry`` category cues, ``negators``, ``domain`` (product names and
domain words segmentation keeps whole: the jieba user dictionary) and ``aspects``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

LEXICON_DIR = Path(__file__).with_name("lexicon")
FILES = {
    "positive": "positive.txt",
    "negative": "negative.txt",
    "complaint": "complaint.txt",
    "suggestion": "suggestion.txt",
    "inquiry": "inquiry.txt",
    "negators": "negators.txt",
    "domain": "userdict.txt",
    "aspects": "aspects.txt",
}
LISTS = tuple(FILES)
# Lists whose entries may be phrases of several words (matched as words in a row, or,
# for suggestion and inquiry cues, on the text); the others hold single words.
PHRASE_LISTS = frozenset({"suggestion", "inquiry", "aspects"})
MAX_WORD_CHARS = 30
MAX_REASON_CHARS = 500
ASPECT_CODE = re.compile(r"^[a-z][a-z_]*$")
_SPACES = re.compile(r"\s+")
_FORBIDDEN = re.compile(r"[#\x00-\x1f\x7f]")


class LexiconError(ValueError):
    """An invalid edit; ``field`` names the part of the request that is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _plain_words(name: str) -> dict[str, str | None]:
    words: dict[str, str | None] = {}
    for line in (LEXICON_DIR / name).read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            # userdict lines are "word frequency tag": the word is the first part
            word = line.split()[0] if name == "userdict.txt" else line.strip()
            words[word.lower()] = None
    return words


def _aspect_lines(name: str) -> dict[str, str | None]:
    """``term aspect_code`` lines → {term (words separated by one space): code}."""
    terms: dict[str, str | None] = {}
    for number, line in enumerate((LEXICON_DIR / name).read_text("utf-8").splitlines(), 1):
        parts = line.split("#", 1)[0].lower().split()
        if not parts:
            continue
        if len(parts) < 2 or not ASPECT_CODE.match(parts[-1]):
            raise ValueError(f"{name}:{number}: expected 'term aspect_code', got {line!r}")
        terms[" ".join(parts[:-1])] = parts[-1]
    return terms


@lru_cache(maxsize=1)
def _base() -> dict[str, dict[str, str | None]]:
    return {
        name: _aspect_lines(file) if name == "aspects" else _plain_words(file) for name, file in FILES.items()
    }


@lru_cache(maxsize=1)
def shipped_words() -> frozenset[str]:
    """Every single word of the shipped lists."""
    return frozenset(w for words in _base().values() for w in words if " " not in w)


@lru_cache(maxsize=1)
def segmentation_words() -> frozenset[str]:
    """Chinese words of two or more characters in the shipped word lists, which the
    tokenizer keeps whole (a word an admin adds is carved out at analysis instead).

    Not a degree word followed by a listed word (非常满意, 太慢): analysis reads those as
    the two, so removing 满意 also silences 非常满意."""
    listed = {w for name, words in _base().items() if name not in ("domain", "aspects") for w in words}
    degree = modifiers()
    return frozenset(
        w
        for w in listed
        if len(w) >= 2
        and not w.isascii()
        and not any(w.startswith(m) and w[len(m) :] in listed for m in degree if len(m) < len(w))
    )


@lru_cache(maxsize=1)
def modifiers() -> dict[str, float]:
    """``modifiers.txt``: intensifiers (很 1.5) and downtoners (有点 0.5) → their weight.
    Shipped data, not edited live."""
    weights: dict[str, float] = {}
    for number, line in enumerate((LEXICON_DIR / "modifiers.txt").read_text("utf-8").splitlines(), 1):
        parts = line.split("#", 1)[0].lower().split()
        if not parts:
            continue
        try:
            word, weight = parts
            weights[word] = float(weight)
        except ValueError:
            raise ValueError(f"modifiers.txt:{number}: expected 'word weight', got {line!r}") from None
    return weights


@lru_cache(maxsize=1)
def cues() -> tuple[tuple[re.Pattern, float], ...]:
    """``cues.txt``: verdict patterns (怎么还不发货 -1, 下次还来 +1) → (pattern, weight).
    Shipped data, not edited live."""
    out = []
    for number, line in enumerate((LEXICON_DIR / "cues.txt").read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            weight, pattern = line.split(None, 1)
            out.append((re.compile(pattern.strip()), float(weight)))
        except (ValueError, re.error) as exc:
            raise ValueError(f"cues.txt:{number}: expected 'weight regex' ({exc}), got {line!r}") from None
    return tuple(out)


@lru_cache(maxsize=1)
def traditional_table() -> dict[int, int]:
    """``traditional.txt``: traditional characters → simplified ones, for ``str.translate``
    (a table of common characters in comments, not a full converter)."""
    table: dict[int, int] = {}
    for line in (LEXICON_DIR / "traditional.txt").read_text("utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            for pair in line.split():
                if len(pair) == 2:
                    table[ord(pair[0])] = ord(pair[1])
    return table


def base_lists() -> dict[str, dict[str, str | None]]:
    """The shipped lists (a fresh copy): list → {word: aspect code, or None}."""
    return {name: dict(words) for name, words in _base().items()}


# The aspect codes, in the order the shipped file introduces them; an edit cannot add one.
ASPECTS: tuple[str, ...] = tuple(dict.fromkeys(c for c in _base()["aspects"].values() if c))


def normalize_word(list_name: str, word) -> str:
    """The word as stored and matched (lower case, single spaces); raises LexiconError."""
    if not isinstance(word, str) or not word.strip():
        raise LexiconError("word", "must be a non-empty string")
    text = _SPACES.sub(" ", word.strip().lower())
    if len(text) > MAX_WORD_CHARS:
        raise LexiconError("word", f"at most {MAX_WORD_CHARS} characters, got {len(text)}")
    if _FORBIDDEN.search(text):
        raise LexiconError("word", "must not contain '#' or control characters")
    if " " in text and list_name not in PHRASE_LISTS:
        raise LexiconError("word", f"one word without spaces in list {list_name!r}")
    return text


def validate_edit(edit) -> dict:
    """An edit ``{"op": "add" | "remove", "list", "word", "aspect"?}`` checked and
    normalised; raises LexiconError naming the wrong field."""
    if not isinstance(edit, dict):
        raise LexiconError("edit", "must be an object with op, list and word")
    unknown = sorted(set(edit) - {"op", "list", "word", "aspect"})
    if unknown:
        raise LexiconError(unknown[0], "unknown field")
    op = edit.get("op")
    if op not in ("add", "remove"):
        raise LexiconError("op", f"must be 'add' or 'remove', got {op!r}")
    name = edit.get("list")
    if name not in LISTS:
        raise LexiconError("list", f"unknown list {name!r}; one of {', '.join(LISTS)}")
    word = normalize_word(name, edit.get("word"))
    aspect = edit.get("aspect")
    if name == "aspects" and op == "add":
        if aspect not in ASPECTS:
            raise LexiconError("aspect", f"unknown aspect {aspect!r}; one of {', '.join(ASPECTS)}")
    elif aspect is not None:
        raise LexiconError("aspect", "only for adding to the aspects list")
    return {"op": op, "list": name, "word": word, "aspect": aspect if op == "add" else None}


def merge(
    base: Mapping[str, Mapping[str, str | None]], overlay: Iterable[Mapping]
) -> dict[str, dict[str, str | None]]:
    """The lists after applying ``overlay``'s entries to ``base`` (neither is changed)."""
    lists = {name: dict(words) for name, words in base.items()}
    for entry in overlay:
        words = lists.setdefault(entry["list"], {})
        if entry["state"] == "added":
            words[entry["word"]] = entry.get("aspect")
        else:
            words.pop(entry["word"], None)
    return lists


def apply_edits(overlay: Iterable[Mapping], edits: Iterable[Mapping]) -> list[dict]:
    """``overlay`` with draft ``edits`` (validated) applied: the entries a dry run uses."""
    entries = {(e["list"], e["word"]): dict(e) for e in overlay}
    for raw in edits:
        edit = validate_edit(raw)
        state = "added" if edit["op"] == "add" else "removed"
        entries[(edit["list"], edit["word"])] = {
            "list": edit["list"],
            "word": edit["word"],
            "state": state,
            "aspect": edit["aspect"],
        }
    return list(entries.values())


def effective(lists: Mapping[str, Mapping[str, str | None]], edit: Mapping) -> bool:
    """Whether ``edit`` (validated) would change ``lists``."""
    words = lists.get(edit["list"], {})
    if edit["op"] == "remove":
        return edit["word"] in words
    return edit["word"] not in words or words[edit["word"]] != edit["aspect"]
