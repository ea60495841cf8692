"""Chinese (and English) comment analysis: segmentation, negation, sentiment, category.

Rule-based on purpose: the lexicons in ``textanalysis/lexicon/`` are data an admin
can read and extend, the results are explainable, and nothing is downloaded at run
time. ``analyze(text)`` is cached, so the alerts engine and profiles can ask for
the same comment many times for the cost of one segmentation.

Negation: a negator (不, 没有, 不是, 毫无, not, no …) negates the next few words of
the same clause, and a word jieba glued to its negator (不满意, 没问题, 不合理) is
split back into negator + word when the word is in a lexicon. So ``不满意`` is the
word ``满意`` negated, and ``不是投诉`` is ``投诉`` negated.

Learned polarity: ``use_model(model)`` adds a model trained on the deployment's
own scored comments (``textanalysis.sentiment_model``). The lexicon decides
whenever it finds a polarity, and wherever it is certain (a complaint word, any
negated word: the negation engine knows a negator's scope, a bag of words does
not); a confident model vote fills in the rest, except questions and suggestions.
Either way the result names its ``source`` and the ``drivers`` behind it.

Aspects: what a comment is about (delivery, price, product_quality, staff_attitude,
after_sales, waiting_time, billing, app_website), from ``lexicon/aspects.txt``. A term
under negation still names its aspect (快递没有丢 is about delivery), so aspects
ignore negation; the result keeps the terms that found each one (``aspect_terms``).

Accuracy: ``python -m services.profiles.accuracy`` (figures in docs/rules.md).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jieba

LEXICON_DIR = Path(__file__).with_name("lexicon")
SENTIMENTS = ("positive", "neutral", "negative")
CATEGORIES = ("complaint", "suggestion", "inquiry", "praise", "other")

# How many words after a negator it reaches (within the clause): "不太满意",
# "没有人处理", "no complaints at all" are all within three.
NEGATION_REACH = 3
# Clause boundaries: punctuation, and contrast words that start a new thought.
_CLAUSE_BREAK = re.compile(r"^[\s，。！？；、,.!?;:：\n()（）…~\-]+$")
_CONTRAST = {"但", "但是", "可是", "不过", "就是", "只是", "而且", "but", "however", "though"}
_ENGLISH_NOT = re.compile(r"(?i)\b(\w+)n't\b")
_ENGLISH_WORD = re.compile(r"^[a-z0-9][a-z0-9']*$")


def _words(name: str) -> frozenset[str]:
    lines = (LEXICON_DIR / name).read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))


POSITIVE = _words("positive.txt")
NEGATIVE = _words("negative.txt")
COMPLAINT = _words("complaint.txt")
SUGGESTION = _words("suggestion.txt")
INQUIRY = _words("inquiry.txt")
NEGATORS = _words("negators.txt")
USER_WORDS = frozenset(
    line.split()[0] for line in (LEXICON_DIR / "userdict.txt").read_text("utf-8").splitlines() if line.strip()
)
# Words that may be split off a glued negator (不满意 → 不 + 满意).
_SPLITTABLE = POSITIVE | NEGATIVE | COMPLAINT | USER_WORDS
LEXICON_WORDS = _SPLITTABLE | SUGGESTION | INQUIRY
# Single-character negators that glue onto the next word, longest first.
_PREFIXES = sorted((n for n in NEGATORS if not n.isascii()), key=len, reverse=True)


def _aspect_terms(name: str) -> dict[tuple[str, ...], str]:
    """``term aspect_code`` lines → {term as a word sequence: code} (see lexicon/README.md)."""
    terms: dict[tuple[str, ...], str] = {}
    for number, line in enumerate((LEXICON_DIR / name).read_text("utf-8").splitlines(), 1):
        parts = line.split("#", 1)[0].lower().split()
        if not parts:
            continue
        if len(parts) < 2 or not _ASPECT_CODE.match(parts[-1]):
            raise ValueError(f"{name}:{number}: expected 'term aspect_code', got {line!r}")
        terms[tuple(parts[:-1])] = parts[-1]
    return terms


_ASPECT_CODE = re.compile(r"^[a-z][a-z_]*$")
ASPECT_TERMS = _aspect_terms("aspects.txt")
# The aspect codes, in the order the lexicon introduces them.
ASPECTS = tuple(dict.fromkeys(ASPECT_TERMS.values()))
# First word → [(the term's other words, term, code)], so matching costs one lookup per word.
_ASPECT_HEADS: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
for _form, _code in ASPECT_TERMS.items():
    _term = "".join(_form) if not _form[0].isascii() else " ".join(_form)  # 坏了, log in
    _ASPECT_HEADS.setdefault(_form[0], []).append((_form[1:], _term, _code))
# Lengths of one-word Chinese terms of 2+ characters, which also match inside a longer word.
_ASPECT_INSIDE = sorted(
    {len(f[0]) for f in ASPECT_TERMS if len(f) == 1 and len(f[0]) >= 2 and not _ENGLISH_WORD.match(f[0])}
)
STOPWORDS = _STOPWORDS = frozenset(
    "的 了 是 我 你 他 她 们 也 都 就 还 又 在 和 与 及 把 被 给 让 吧 呢 啊 吗 很 太 非常 这 那 这个 那个 "
    "一个 有 个 次 天 之前 之后 已经 现在 一下 一点 我们 你们 the a an and or to of in on at for is was "
    "it this that i my me with very too be been are were".split()
)

_tokenizer: jieba.Tokenizer | None = None
_tokenizer_lock = threading.Lock()


def tokenizer() -> jieba.Tokenizer:
    """The shared jieba tokenizer with the domain user dictionary (built once)."""
    global _tokenizer
    if _tokenizer is None:
        with _tokenizer_lock:
            if _tokenizer is None:
                jieba.setLogLevel(logging.WARNING)
                tk = jieba.Tokenizer()
                tk.load_userdict(str(LEXICON_DIR / "userdict.txt"))
                _tokenizer = tk
    return _tokenizer


@dataclass(frozen=True)
class Token:
    word: str  # lower-cased for English
    negated: bool
    clause: int


@dataclass(frozen=True)
class TextAnalysis:
    tokens: tuple[Token, ...]
    sentiment: str
    score: float  # the lexicon's score, whatever decided the sentiment
    category: str
    keywords: tuple[str, ...]
    source: str = "lexicon"  # what decided the sentiment: lexicon | model
    drivers: tuple[str, ...] = ()  # the words or features behind the sentiment
    model_version: str | None = None  # the model consulted, if any
    aspects: tuple[str, ...] = ()  # aspect codes found, sorted
    aspect_terms: tuple[tuple[str, str], ...] = ()  # (code, term that found it), sorted

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(t.word for t in self.tokens)

    def affirmed(self) -> frozenset[str]:
        """Words present and not negated."""
        return frozenset(t.word for t in self.tokens if not t.negated)

    def negated_words(self) -> frozenset[str]:
        return frozenset(t.word for t in self.tokens if t.negated)

    def summary(self) -> dict:
        """A JSON-ready view (for traces and explain)."""
        return {
            "sentiment": self.sentiment,
            "score": self.score,
            "category": self.category,
            "keywords": list(self.keywords),
            "negated": sorted(self.negated_words()),
            "source": self.source,
            "drivers": list(self.drivers),
            "aspects": list(self.aspects),
            "aspect_terms": {a: [t for c, t in self.aspect_terms if c == a] for a in self.aspects},
            **({"model_version": self.model_version} if self.model_version else {}),
        }


def _split_glued(word: str) -> list[str]:
    if word in NEGATORS or word in _SPLITTABLE and not any(word.startswith(p) for p in _PREFIXES):
        return [word]
    for prefix in _PREFIXES:
        rest = word[len(prefix) :]
        if word.startswith(prefix) and rest in _SPLITTABLE:
            return [prefix, rest]
    return [word]


def _raw_words(text: str) -> list[str]:
    text = _ENGLISH_NOT.sub(r"\1 not", text)
    out: list[str] = []
    for piece in tokenizer().lcut(text):
        if piece.isspace() or not piece:
            continue
        out.extend(_split_glued(piece.lower()))
    return out


def segment(text: str) -> tuple[Token, ...]:
    """Words of ``text`` with their clause number and whether they are negated."""
    tokens: list[Token] = []
    clause = 0
    reach = 0  # words still under a negator's scope
    for word in _raw_words(text):
        if _CLAUSE_BREAK.match(word) or word in _CONTRAST:
            clause += 1
            reach = 0
            continue
        if word in NEGATORS:
            tokens.append(Token(word, False, clause))
            reach = NEGATION_REACH
            continue
        tokens.append(Token(word, reach > 0, clause))
        reach = max(reach - 1, 0)
    return tuple(tokens)


def _phrase_hits(text_lower: str, lexicon: frozenset[str]) -> int:
    """Multi-word English cues ("could you add") are matched on the text."""
    return sum(1 for cue in lexicon if " " in cue and cue in text_lower)


def _score(tokens: tuple[Token, ...]) -> tuple[float, tuple[str, ...]]:
    """The lexicon's score and the words that made it (``不满意`` for a negated 满意)."""
    score = 0.0
    drivers: list[str] = []
    for t in tokens:
        if t.word in POSITIVE:
            score += -1.0 if t.negated else 1.0
        elif t.word in NEGATIVE:
            score += 0.5 if t.negated else -1.0
        else:
            continue
        drivers.append(("不" if t.negated else "") + t.word)
    return score, tuple(dict.fromkeys(drivers))


def _aspects(tokens: tuple[Token, ...]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Aspect codes found in ``tokens`` and the (code, term) pairs behind them; negation ignored."""
    found: set[tuple[str, str]] = set()
    words = [t.word for t in tokens]
    for i, word in enumerate(words):
        for rest, term, code in _ASPECT_HEADS.get(word, ()):
            if not rest or tuple(words[i + 1 : i + 1 + len(rest)]) == rest:
                found.add((code, term))
        if len(word) > 2 and not word.isascii():
            for size in _ASPECT_INSIDE:
                for start in range(len(word) - size + 1):
                    part = word[start : start + size]
                    if part != word:
                        for rest, term, code in _ASPECT_HEADS.get(part, ()):
                            if not rest:
                                found.add((code, term))
    pairs = tuple(sorted(found))
    return tuple(sorted({code for code, _ in pairs})), pairs


def _lexicon_certain(tokens: tuple[Token, ...]) -> bool:
    """An affirmed complaint word, or any negated word: the model may not decide.

    The negation engine knows a negator's scope; a bag of words and bigrams does not
    (快递没有丢 would read as a lost parcel), so negated comments keep the lexicon's view.
    """
    return any(t.negated or t.word in COMPLAINT for t in tokens)


def _category(tokens: tuple[Token, ...], text_lower: str, score: float) -> str:
    affirmed = {t.word for t in tokens if not t.negated}
    complaint = bool(affirmed & COMPLAINT)
    suggestion = bool(affirmed & SUGGESTION) or _phrase_hits(text_lower, SUGGESTION) > 0
    inquiry = bool(affirmed & INQUIRY) or _phrase_hits(text_lower, INQUIRY) > 0
    inquiry = inquiry or text_lower.rstrip().endswith(("?", "？"))
    if complaint:
        return "complaint"
    if suggestion and score > -2:
        return "suggestion"
    if score < 0:
        return "complaint"
    if inquiry:
        return "inquiry"
    if suggestion:
        return "suggestion"
    if score > 0:
        return "praise"
    return "other"


@lru_cache(maxsize=1)
def keyword_idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table for keyword ranking (loaded once, ~0.5 s)."""
    from jieba.analyse.tfidf import TFIDF

    model = TFIDF()
    return model.idf_freq, model.median_idf


def _keywords(tokens: tuple[Token, ...], top: int) -> tuple[str, ...]:
    idf, median = keyword_idf()
    counts = Counter(
        t.word
        for t in tokens
        if t.word not in _STOPWORDS
        and t.word not in NEGATORS
        and not t.word.isdigit()
        and (len(t.word) > 1 or t.word in _SPLITTABLE)
    )
    ranked = sorted(counts, key=lambda w: (-counts[w] * idf.get(w, median), w))
    return tuple(ranked[:top])


# A model vote below this probability leaves the lexicon's polarity as it is.
MODEL_CONFIDENCE = 0.9
_model = None  # a sentiment_model.PolarityModel (duck-typed: .polarity(tokens, text), .version)


def use_model(model) -> None:
    """Consult ``model`` where the lexicon finds no polarity (None: lexicon only); clears the cache.

    Process-wide: every later ``analyze`` call in this process uses it.
    """
    global _model
    _model = model
    analyze.cache_clear()


def active_model():
    return _model


@lru_cache(maxsize=8192)
def analyze(text: str, top_keywords: int = 5) -> TextAnalysis:
    """Segment ``text`` and derive sentiment, category and keywords (cached)."""
    tokens = segment(text)
    score, drivers = _score(tokens)
    sentiment = "positive" if score > 0 else "negative" if score < 0 else "neutral"
    category = _category(tokens, text.lower(), score)
    source, model = "lexicon", _model
    # The model only fills in where the lexicon found no polarity (it learned topics
    # as well as opinions: 客服 leans negative); questions and suggestions keep
    # theirs, since scored comments are mostly verdicts.
    if (
        model is not None
        and sentiment == "neutral"
        and category not in ("inquiry", "suggestion")
        and not _lexicon_certain(tokens)
    ):
        vote = model.polarity(tokens, text)
        if vote is not None and vote.probability >= MODEL_CONFIDENCE:
            sentiment, source, drivers = vote.label, "model", vote.drivers
            category = _category(tokens, text.lower(), -1.0 if vote.label == "negative" else 1.0)
    aspects, aspect_terms = _aspects(tokens)
    return TextAnalysis(
        tokens=tokens,
        sentiment=sentiment,
        score=score,
        category=category,
        keywords=_keywords(tokens, top_keywords),
        source=source,
        drivers=drivers,
        model_version=model.version if model is not None else None,
        aspects=aspects,
        aspect_terms=aspect_terms,
    )


def _keyword_tokens(keyword: str) -> tuple[str, ...]:
    return tuple(t.word for t in segment(keyword) if t.word not in NEGATORS) or (keyword.lower(),)


@lru_cache(maxsize=4096)
def keyword_form(keyword: str) -> tuple[str, ...]:
    """A rule keyword as the word sequence it must match (cached)."""
    return _keyword_tokens(keyword)


def find_keyword(analysis: TextAnalysis, keyword: str) -> bool:
    """True when ``keyword`` occurs in the text as whole words and is not negated.

    A keyword of several words ("送货 慢", "call back") matches the same words in a
    row. A Chinese keyword of two or more characters also matches inside a longer
    word jieba kept whole (客服 in 在线客服), unless that word is negated.
    """
    form = keyword_form(keyword)
    tokens = analysis.tokens
    n = len(form)
    for i in range(len(tokens) - n + 1):
        window = tokens[i : i + n]
        if all(t.word == w for t, w in zip(window, form, strict=True)) and not window[0].negated:
            return True
    if n == 1 and len(form[0]) >= 2 and not _ENGLISH_WORD.match(form[0]):
        return any(form[0] in t.word and not t.negated for t in tokens)
    return False


def warm_up() -> None:
    """Load the tokenizer and the IDF table now (~1 s) rather than on the first event."""
    tokenizer()
    keyword_idf()
    analyze("预热 warm-up")
