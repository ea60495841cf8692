"""Word lists of the text analysis: the shipped files plus an admin's live overlay.

The shipped lists live in ``textanalysis/lexicon/*.txt`` (see its README). An admin
adds or removes words at run time (services/common/lexicon.py stores the edits);
``merge(base_lists(), overlay)`` applies the overlay's entries on top of the files and
``Lexicon`` derives what ``textanalysis.text.Analyzer`` needs from the result.

An overlay entry is ``{"list", "word", "state": "added" | "removed", "aspect"}``:
``added`` puts the word in the list (for ``aspects``: the term with its aspect code),
``removed`` takes it out, whether the files or an earlier edit put it there.

Aspect codes: the shipped file's codes (``ASPECTS``) plus the codes an admin added,
each an overlay entry of the pseudo-list ``aspect_codes`` (``CODES``; the word is the
code) with its labels ``{"zh-CN", "en"}``. ``added_aspects(overlay)`` reads them and
``aspect_codes(overlay)`` is the live set an aspect term, a rule or a playbook may name.

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
# an aspect code an admin adds, and its labels
CODES = "aspect_codes"
NEW_CODE = re.compile(r"^[a-z_]{2,40}$")
LABEL_LANGUAGES = ("zh-CN", "en")
MAX_LABEL_CHARS = 40
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


# The shipped aspect codes, in the order the shipped file introduces them; an admin adds
# others live (``add_aspect`` edits, ``aspect_codes``).
ASPECTS: tuple[str, ...] = tuple(dict.fromkeys(c for c in _base()["aspects"].values() if c))


def added_aspects(overlay: Iterable[Mapping]) -> dict[str, dict[str, str]]:
    """The aspect codes an admin added (in the order they were added) → their labels."""
    added = [e for e in overlay if e["list"] == CODES and e["state"] == "added"]
    added.sort(key=lambda e: e.get("version", 0))
    return {e["word"]: dict(e.get("labels") or {}) for e in added if e["word"] not in ASPECTS}


def aspect_codes(overlay: Iterable[Mapping]) -> tuple[str, ...]:
    """The live aspect codes: the shipped ones, then those an admin added."""
    return ASPECTS + tuple(added_aspects(overlay))


def validate_new_aspect(code, labels, known: Iterable[str]) -> dict:
    """A new aspect code and its labels checked: ``{"code", "labels": {"zh-CN", "en"}}``;
    raises LexiconError naming the wrong field (``code``, ``labels.zh-CN`` …)."""
    if not isinstance(code, str) or not NEW_CODE.match(code):
        raise LexiconError("code", f"2 to 40 characters of a-z and _, got {code!r}")
    if code in known:
        raise LexiconError("code", f"aspect {code!r} exists already")
    if not isinstance(labels, dict):
        raise LexiconError("labels", "an object with zh-CN and en")
    unknown = sorted(set(labels) - set(LABEL_LANGUAGES))
    if unknown:
        raise LexiconError(f"labels.{unknown[0]}", "unknown language; zh-CN and en")
    checked = {}
    for language in LABEL_LANGUAGES:
        label = labels.get(language)
        if not isinstance(label, str) or not label.strip():
            raise LexiconError(f"labels.{language}", "the label people read: a non-empty string")
        label = _SPACES.sub(" ", label.strip())
        if len(label) > MAX_LABEL_CHARS or _FORBIDDEN.search(label):
            raise LexiconError(
                f"labels.{language}", f"at most {MAX_LABEL_CHARS} characters, no '#' or control characters"
            )
        checked[language] = label
    return {"code": code, "labels": checked}


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


def validate_edit(edit, aspects: Iterable[str] | None = ASPECTS) -> dict:
    """An edit ``{"op": "add" | "remove", "list", "word", "aspect"?}`` checked and
    normalised; raises LexiconError naming the wrong field. ``aspects``: the live aspect
    codes (None: any well-formed code, for a check made away from the store)."""
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
        known = tuple(aspects) if aspects is not None else None
        if not isinstance(aspect, str) or not (NEW_CODE.match(aspect) if known is None else aspect in known):
            one_of = f"; one of {', '.join(known)}" if known is not None else ""
            raise LexiconError("aspect", f"unknown aspect {aspect!r}{one_of}")
    elif aspect is not None:
        raise LexiconError("aspect", "only for adding to the aspects list")
    return {"op": op, "list": name, "word": word, "aspect": aspect if op == "add" else None}


def merge(
    base: Mapping[str, Mapping[str, str | None]], overlay: Iterable[Mapping]
) -> dict[str, dict[str, str | None]]:
    """The lists after applying ``overlay``'s entries to ``base`` (neither is changed)."""
    lists = {name: dict(words) for name, words in base.items()}
    for entry in overlay:
        if entry["list"] == CODES:
            continue  # codes, not words (``added_aspects``)
        words = lists.setdefault(entry["list"], {})
        if entry["state"] == "added":
            words[entry["word"]] = entry.get("aspect")
        else:
            words.pop(entry["word"], None)
    return lists


def apply_edits(overlay: Iterable[Mapping], edits: Iterable[Mapping]) -> list[dict]:
    """``overlay`` with draft ``edits`` (validated) applied: the entries a dry run uses."""
    entries = {(e["list"], e["word"]): dict(e) for e in overlay}
    codes = aspect_codes(entries.values())
    for raw in edits:
        edit = validate_edit(raw, codes)
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
