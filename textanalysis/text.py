"""Chinese (and English) comment analysis: segmentation, negation, sentiment, category.

Rule-based on purpose: the lexicons in ``textanalysis/lexicon/`` are data an admin
can read and extend, the results are explainable, and nothing is downloaded at run
time. ``analyze(text)`` is cached, so the alerts engine and profiles can ask for
the same comment many times for the cost of one segmentation.

Negation: a negator (不, 没有, 不是, 毫无, not, no …) negates the next few words of
the same clause, and a word jieba glued to its negator (不满意, 没问题, 不合理) is
split back into negator + word when the word is in a lexicon. So ``不满意`` is the
word ``满意`` negated, and ``不是投诉`` is ``投诉`` negated.

Scoring: each sentiment word counts ±1, scaled by a degree word before it (很, 有点:
``lexicon/modifiers.txt``) and by its clause's weight: after 但是/结果 1.5, after 就是 or in a
虽然 clause 0.5; in a sentence that wishes (建议…) praise words do not count; verdict
patterns (``lexicon/cues.txt``: 怎么还不发货, 下次还来) add theirs, and so do facts told
without an opinion word (``textanalysis.facts``: 第二天屏幕就黑了 → ``fault:黑``, ``soon:第二天``);
难道 cancels its clause's negators. Turns (``textanalysis.turns``) then read the scored words as a whole:
an expectation's clause does not count (本以为是实木的，没想到是压缩板 → ``unmet:本以为``), opening praise
next to a problem with no contrast word is sarcasm (真是太棒了，等了三个小时 → ``sarcasm:太棒了``), a
competitor's clause counts the other way (别家都很贵 → ``other:贵``); 别再 and 没两天 negate nothing.
Text is normalised first (``normalize``: traditional characters,
emoticons, star ratings in digits).

Learned polarity: ``use_model(model)`` adds a model trained on the deployment's
own scored comments (``textanalysis.sentiment_model``). The lexicon decides
whenever it finds a polarity, and wherever it is certain (a complaint word, any
negated word: the negation engine knows a negator's scope, a bag of words does
not); a confident model vote fills in the rest, except questions and suggestions.
Either way the result names its ``source`` and the ``drivers`` behind it.

Aspects: what a comment is about (delivery, price, product_quality, staff_attitude,
after_sales, waiting_time, billing, app_website, and the codes an admin added live),
from ``lexicon/aspects.txt`` and the overlay. A term
under negation still names its aspect (快递没有丢 is about delivery), so aspects
ignore negation; the result keeps the terms that found each one (``aspect_terms``).

Live lexicons: the word lists are the shipped files plus an admin's overlay
(``textanalysis/lexicon.py``). An ``Analyzer`` holds one merged ``Lexicon`` and its own
result cache, so a new lexicon is a new analyzer and no cached result outlives the
words it came from. The module-level ``analyze`` / ``segment`` / ``find_keyword`` use
the process's current analyzer (``use_analyzer``); services get theirs from
services/common/lexicon.py, which follows the stored overlay.

Accuracy: ``python -m services.profiles.accuracy`` (figures in docs/rules.md).
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import jieba

from textanalysis import facts, turns
from textanalysis import lexicon as lists
from textanalysis.lexicon import LEXICON_DIR

SENTIMENTS = ("positive", "neutral", "negative")
CATEGORIES = ("complaint", "suggestion", "inquiry", "praise", "other")

# How many words after a negator it reaches (within the clause): "不太满意",
# "没有人处理", "no complaints at all" are all within three.
NEGATION_REACH = 3
# Clause boundaries: punctuation, and contrast words that start a new thought.
_CLAUSE_BREAK = re.compile(r"^[\s，。！？；、,.!?;:：\n()（）…~\-]+$")
# Contrast words start a new clause, and weigh what follows until the sentence ends: after
# 但是/不过 comes the verdict (外观好看，但是质量太差 is negative), after 就是/只是 a minor
# reservation (很满意，就是物流慢了点 stays positive). A concession (虽然…) weighs its own clause less.
_CONTRAST_WEIGHT = {
    **dict.fromkeys(("但", "但是", "可是", "不过", "然而", "可惜", "却", "but", "however"), 1.5),
    # what turned out (说三天发货，结果十天了): the verdict follows
    **dict.fromkeys(("结果", "实际", "实际上", "谁知", "谁知道", "哪知", "没想到", "后来"), 1.5),
    **dict.fromkeys(("就是", "只是", "唯一", "美中不足", "though"), 0.5),
    **dict.fromkeys(("而且", "并且", "另外", "and"), 1.0),
}
_CONTRAST = frozenset(_CONTRAST_WEIGHT) - {"and"}
_CONCESSION = frozenset({"虽然", "虽", "尽管", "虽说", "although"})
_SENTENCE_END = re.compile(r"^[。！？!?.\n…]+$")
# 难道 makes its clause rhetorical: 难道不应该退款吗 asks for the refund, it does not negate it.
_RHETORICAL = frozenset({"难道", "莫非"})
# Words that start a wish, to the end of the sentence: 建议账单写清楚 asks for clarity, it
# does not praise it (a problem named there still counts: 能不能快点，太慢了).
_WISH = frozenset(
    "建议 希望 希望能 希望可以 能不能 可不可以 能否 可否 如果能 要是能 最好能 期望 盼望".split()
    + ["suggest", "hope", "wish"]
)
# A negator that does not negate what follows: 别再拖了 asks to stop what happens (拖 stays a
# complaint), 没两天又漏水了 counts time (没两天 is "within two days").
_STOP_DEMAND = (
    frozenset({"别", "不要", "别再", "不要再"}),
    frozenset({"再", "又", "老", "老是", "总", "总是", "再让"}),
)
_SHORT_WHILE = re.compile(r"^([两几一三]|多)个?(天|日|周|星期|月|次|回|下|会儿?)$|^多久$|^多长时间$")
_POLITE_QUESTION = re.compile(r"请问|想问|咨询|请教")
_POLITE_OPENING = re.compile(r"\s*(你好|您好)?[，,\s]*(请问|想问|咨询|请教)")
_EXCLAIMED = re.compile(r"[!！]{2,}")
_EXASPERATED = re.compile(r"[?？!！]{2,}")
# How much an intensifier (很, 太) or downtoner (有点) before a sentiment word counts;
# 好 before a sentiment word is an intensifier (好慢), not praise.
_MODIFIER_REACH = 2
_ENGLISH_NOT = re.compile(r"(?i)\b(\w+)n't\b")
_ENGLISH_WORD = re.compile(r"^[a-z0-9][a-z0-9']*$")
STOPWORDS = _STOPWORDS = frozenset(
    "的 了 是 我 你 他 她 们 也 都 就 还 又 在 和 与 及 把 被 给 让 吧 呢 啊 吗 很 太 非常 这 那 这个 那个 "
    "一个 有 个 次 天 之前 之后 已经 现在 一下 一点 我们 你们 the a an and or to of in on at for is was "
    "it this that i my me with very too be been are were".split()
)
# The shipped aspect codes; the live set (with the codes an admin added) is
# ``Lexicon.aspects``, the process's current one ``aspects()``.
ASPECTS = lists.ASPECTS
# At most this many jieba pieces are joined back into one domain word an admin added.
_DOMAIN_SPAN = 6


class Lexicon:
    """The merged word lists (``textanalysis.lexicon.merge``) and what analysis derives
    from them; ``version`` is the overlay revision they came from (0: the files);
    ``added_aspects``: the aspect codes an admin added → their labels."""

    def __init__(
        self,
        merged: Mapping[str, Mapping[str, str | None]],
        version: int = 0,
        added_aspects: Mapping[str, Mapping[str, str]] | None = None,
    ):
        self.version = version
        self.lists = merged
        self.aspect_labels = {code: dict(labels) for code, labels in (added_aspects or {}).items()}
        self.aspects: tuple[str, ...] = lists.ASPECTS + tuple(self.aspect_labels)

        def words(name: str) -> frozenset[str]:
            return frozenset(merged.get(name, {}))

        self.positive, self.negative = words("positive"), words("negative")
        self.complaint, self.suggestion, self.inquiry = (
            words("complaint"),
            words("suggestion"),
            words("inquiry"),
        )
        self.negators, self.domain = words("negators"), words("domain")
        shipped = frozenset(lists.base_lists()["domain"])
        # shipped domain words an edit removed: jieba must not keep them whole
        self.removed_domain = shipped - self.domain
        # Chinese words an edit added to any list: carved out of a longer piece jieba
        # glued them into (很丝滑 → 很 + 丝滑), since jieba's dictionary does not know them
        edited = {w for name, words in merged.items() for w in words if " " not in w and not w.isascii()}
        self.added_words = frozenset(edited - lists.shipped_words())
        self.added_lengths = sorted({len(w) for w in self.added_words}, reverse=True)
        # words that may be split off a glued negator (不满意 → 不 + 满意)
        self.splittable = self.positive | self.negative | self.complaint | self.domain
        self.words = self.splittable | self.suggestion | self.inquiry
        # single-character negators that glue onto the next word, longest first
        self.modifiers = lists.modifiers()
        self.cues = lists.cues()
        # listed words that are a degree word and a listed word (太慢, 非常满意), which jieba may
        # keep whole: they count with the degree's weight
        sentiment = self.positive | self.negative
        self.degree = {
            w: self.modifiers[w[:k]]
            for w in sentiment
            for k in (1, 2)
            if w[:k] in self.modifiers and w[k:] in sentiment
        }
        self.sentiment_lengths = sorted(
            {len(w) for w in self.positive | self.negative if len(w) >= 2 and not w.isascii()}, reverse=True
        )
        self.prefixes = sorted((n for n in self.negators if not n.isascii()), key=len, reverse=True)
        self.prefixes_by_char: dict[str, list[str]] = {}
        for prefix in self.prefixes:
            self.prefixes_by_char.setdefault(prefix[0], []).append(prefix)
        self._index_aspects(merged.get("aspects", {}))

    def _index_aspects(self, terms: Mapping[str, str | None]) -> None:
        """The aspect terms by first word; a term whose code is not live (its addition
        was reverted) finds nothing."""
        known = frozenset(self.aspects)
        self.aspect_terms = {tuple(t.split(" ")): c for t, c in terms.items() if c in known}
        # first word → [(the term's other words, term, code)]: one lookup per word
        self.aspect_heads: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        for form, code in self.aspect_terms.items():
            term = "".join(form) if not form[0].isascii() else " ".join(form)  # 坏了, log in
            self.aspect_heads.setdefault(form[0], []).append((form[1:], term, code))
        # lengths of one-word Chinese terms of 2+ characters, which also match inside a longer word
        self.aspect_inside = sorted(
            {
                len(f[0])
                for f in self.aspect_terms
                if len(f) == 1 and len(f[0]) >= 2 and not _ENGLISH_WORD.match(f[0])
            }
        )

    @classmethod
    def shipped(cls) -> Lexicon:
        return cls(lists.base_lists(), 0)

    @classmethod
    def with_overlay(cls, overlay, version: int) -> Lexicon:
        overlay = list(overlay)
        return cls(lists.merge(lists.base_lists(), overlay), version, lists.added_aspects(overlay))


_SHIPPED = Lexicon.shipped()
POSITIVE, NEGATIVE, COMPLAINT = _SHIPPED.positive, _SHIPPED.negative, _SHIPPED.complaint
SUGGESTION, INQUIRY, NEGATORS = _SHIPPED.suggestion, _SHIPPED.inquiry, _SHIPPED.negators
USER_WORDS = _SHIPPED.domain
LEXICON_WORDS = _SHIPPED.words
ASPECT_TERMS = _SHIPPED.aspect_terms

# jieba frequency of the lexicon's words it does not know better (its user dictionary uses 1000-2000)
LEXICON_WORD_FREQ = 1500
_NEGATOR_CHARS = frozenset("不没无未别非")
_PARTICLES = frozenset("了的啊呀吧哦呢嘛啦")
# words after which 好 alone is praise (味道也好, 效果确实好)
_BEFORE_PREDICATIVE = frozenset(("也", "都", "就", "挺", "蛮", "确实", "是真的"))
_DEGREE_CHARS = frozenset("很太超巨贼真好挺蛮忒最")
# ASCII emoticons jieba would cut into punctuation, written as the emoji the lexicon knows
_EMOTICONS = re.compile(
    r"[:：]-?[)）]+|\^_*\^|[:：]-?d\b|[:：]-?[(（]+|\bt_t\b|\bqaq\b|\borz\b", re.IGNORECASE
)
# star ratings in digits (1星, 5颗星) as the words the lexicon knows (一星, 五星)
_STARS = re.compile(r"(?<![0-9])([0-5])\s*颗?星(?!级)")
_NUMERALS = "零一二三四五"


def _not_negating(negator: str, after: str) -> bool:
    """``negator`` before ``after`` asks to stop (别再) or counts time (没两天): no negation."""
    if negator in _STOP_DEMAND[0]:
        return after in _STOP_DEMAND[1] or negator.endswith("再")
    return negator in ("没", "没有") and bool(_SHORT_WHILE.match(after))


def _emoji(match: re.Match) -> str:
    face = match.group(0).lower()
    if face in ("t_t", "qaq", "orz"):
        return "😭"
    if face[-1] in "(（":
        return "🙁"
    return "😄" if face[-1] == "d" else "🙂"


def normalize(text: str) -> str:
    """``text`` as the lexicon reads it: traditional characters as simplified ones,
    emoticons as emoji, star ratings in words."""
    text = _EMOTICONS.sub(_emoji, text.translate(lists.traditional_table()))
    return _STARS.sub(lambda m: _NUMERALS[int(m.group(1))] + "星", text)


_tokenizer: jieba.Tokenizer | None = None
_plain: jieba.Tokenizer | None = None
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
                # the shipped lexicon's words are kept whole (给力, 物超所值, 再也不买)
                for word in sorted(lists.segmentation_words()):
                    tk.add_word(word, max(tk.FREQ.get(word, 0), LEXICON_WORD_FREQ))
                _tokenizer = tk
    return _tokenizer


def plain_tokenizer() -> jieba.Tokenizer:
    """jieba without the user dictionary: re-cuts a domain word an admin removed."""
    global _plain
    if _plain is None:
        with _tokenizer_lock:
            if _plain is None:
                _plain = jieba.Tokenizer()
    return _plain


@dataclass(frozen=True)
class Token:
    word: str  # lower-cased for English
    negated: bool
    clause: int
    weight: float = 1.0  # how much the clause counts: 1.5 after 但是, 0.5 after 就是 or in 虽然…
    wish: bool = False  # in a sentence that wishes (建议…写清楚): praise words describe the wish
    sentence: int = 0  # the sentence's number (。！？ end one; a comma or 但是 only the clause)


@dataclass(frozen=True)
class TextAnalysis:
    tokens: tuple[Token, ...]
    sentiment: str
    score: float  # the lexicon's score, whatever decided the sentiment
    category: str
    keywords: tuple[str, ...]
    source: str = "lexicon"  # what decided the sentiment: lexicon | model
    drivers: tuple[str, ...] = ()  # the words or features behind the sentiment
    category_cues: tuple[str, ...] = ()  # the cue words behind the category (none: the score decided)
    model_version: str | None = None  # the model consulted, if any
    aspects: tuple[str, ...] = ()  # aspect codes found, sorted
    aspect_terms: tuple[tuple[str, str], ...] = ()  # (code, term that found it), sorted
    lexicon_version: int = 0  # the lexicon overlay revision the words came from (0: the files)

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
            "category_cues": list(self.category_cues),
            "aspects": list(self.aspects),
            "aspect_terms": {a: [t for c, t in self.aspect_terms if c == a] for a in self.aspects},
            "lexicon_version": self.lexicon_version,
            **({"model_version": self.model_version} if self.model_version else {}),
        }


@lru_cache(maxsize=1)
def keyword_idf() -> tuple[dict[str, float], float]:
    """jieba's IDF table for keyword ranking (loaded once, ~0.5 s)."""
    from jieba.analyse.tfidf import TFIDF

    model = TFIDF()
    return model.idf_freq, model.median_idf


# A model vote below this probability leaves the lexicon's polarity as it is.
MODEL_CONFIDENCE = 0.9
_model = None  # a sentiment_model.PolarityModel (duck-typed: .polarity(tokens, text), .version)
_analyzers: weakref.WeakSet = weakref.WeakSet()  # every live analyzer, to clear on a model change


class Analyzer:
    """Segmentation, negation, sentiment, category, keywords and aspects over one
    ``Lexicon``, with its own cache: a lexicon change is a new analyzer."""

    def __init__(self, lexicon: Lexicon | None = None, model=None):
        self.lexicon = lexicon or _SHIPPED
        self.version = self.lexicon.version
        # a polarity model for this analyzer (the deployment's active one); None: the
        # process's (``use_model``), if any
        self.model = model
        self.analyze = lru_cache(maxsize=8192)(self._analyze)
        self.keyword_form = lru_cache(maxsize=4096)(self._keyword_form)
        _analyzers.add(self)

    def clear(self) -> None:
        self.analyze.cache_clear()

    # segmentation ---------------------------------------------------------------------

    def _split_glued(self, word: str) -> list[str]:
        lx = self.lexicon
        prefixes = lx.prefixes_by_char.get(word[:1])
        if not prefixes or word in lx.negators:
            return [word]
        for prefix in prefixes:  # longest first
            rest = word[len(prefix) :]
            if word.startswith(prefix) and rest in lx.splittable:
                if word in lx.negative and rest in lx.negative or word in lx.positive and rest in lx.positive:
                    return [word]  # 不退钱 is listed as negative: negating 退钱 would praise it
                return [prefix, rest]
        return [word]

    def _pieces(self, text: str) -> list[str]:
        """jieba's pieces, with the overlay applied: a removed domain word is cut again
        without the user dictionary; a word an edit added is kept whole, carved out of a
        longer piece or joined back from several (甩 + 锅 → 甩锅)."""
        lx = self.lexicon
        pieces = tokenizer().lcut(text)
        if lx.removed_domain:
            pieces = [
                p
                for piece in pieces
                for p in (plain_tokenizer().lcut(piece) if piece.lower() in lx.removed_domain else [piece])
            ]
        if lx.added_words:
            pieces = [part for piece in pieces for part in self._carve(piece)]
        if not lx.added_words:
            return pieces
        joined, i = [], 0
        while i < len(pieces):
            for span in range(min(_DOMAIN_SPAN, len(pieces) - i), 1, -1):
                if "".join(pieces[i : i + span]).lower() in lx.added_words:
                    joined.append("".join(pieces[i : i + span]))
                    i += span
                    break
            else:
                joined.append(pieces[i])
                i += 1
        return joined

    def _carve(self, piece: str) -> list[str]:
        """``piece`` split around the longest, leftmost word an edit added inside it."""
        lx = self.lexicon
        if len(piece) < 2 or piece.isascii() or piece in lx.words or piece in lx.negators:
            return [piece]
        for size in lx.added_lengths:
            for start in range(len(piece) - size + 1):
                if size < len(piece) and piece[start : start + size] in lx.added_words:
                    head, word, tail = piece[:start], piece[start : start + size], piece[start + size :]
                    return [*self._carve(head), word, *self._carve(tail)] if head or tail else [word]
        return [piece]

    def _raw_words(self, text: str) -> list[str]:
        text = _ENGLISH_NOT.sub(r"\1 not", normalize(text))
        out: list[str] = []
        lx = self.lexicon
        for piece in self._pieces(text):
            if piece.isspace() or not piece:
                continue
            word = piece.lower()
            stem = word[:-1] if len(word) > 1 and word[-1] == "得" and word not in lx.words else ""
            if stem and (stem in lx.positive or stem in lx.negative):
                out.extend((*self._split_glued(stem), "得"))  # 脏得看不清: 脏 + 得
                continue
            out.extend(self._split_glued(word))
        return out

    def segment(self, text: str) -> tuple[Token, ...]:
        """Words of ``text`` with their clause number, whether they are negated and the
        weight of their clause (contrast and concession words)."""
        tokens: list[Token] = []
        clause = sentence = 0
        reach = 0  # words still under a negator's scope
        weight, concession, rhetorical, wish = 1.0, 1.0, False, False
        negators = self.lexicon.negators
        words = self._raw_words(text)
        for i, word in enumerate(words):
            if _CLAUSE_BREAK.match(word) or word in _CONTRAST:
                clause += 1
                reach, concession, rhetorical = 0, 1.0, False
                if word in _CONTRAST:
                    weight = _CONTRAST_WEIGHT[word]
                elif _SENTENCE_END.match(word):
                    weight, wish, sentence = 1.0, False, sentence + 1
                continue
            if word in _CONCESSION or word in _RHETORICAL:
                concession = 0.5 if word in _CONCESSION else concession
                rhetorical = rhetorical or word in _RHETORICAL
                continue
            wish = wish or word in _WISH
            if word in negators:
                tokens.append(Token(word, False, clause, weight * concession, wish, sentence))
                after = words[i + 1] if i + 1 < len(words) else ""
                reach = 0 if rhetorical or _not_negating(word, after) else NEGATION_REACH
                continue
            negated = reach > 0 or self._glued_negation(words[i - 1] if i else "", word)
            tokens.append(Token(word, negated, clause, weight * concession, wish, sentence))
            reach = max(reach - 1, 0)
        return tuple(tokens)

    def _glued_negation(self, before: str, word: str) -> bool:
        """``word`` is a positive result of a verb jieba glued to 没 / 未 (没冲 干净, 没擦 干净):
        not done, so negated; 没见 过 这么好 is not (过 comes between)."""
        lx = self.lexicon
        if len(before) != 2 or before[0] not in "没未" or before in lx.words or before in lx.negators:
            return False
        return word in lx.positive

    # the parts of a result --------------------------------------------------------------

    def _score(self, tokens: tuple[Token, ...], text: str = "") -> tuple[float, tuple[str, ...]]:
        """The lexicon's score and the words that made it (``不满意`` for a negated 满意).

        A word counts ±1, a negated positive word -1, a negated negative word +0.5; an
        intensifier or downtoner just before it (same clause) scales an affirmed word, and
        its clause's weight scales it (contrast). Verdict patterns of ``text`` add theirs;
        repeated exclamation marks make the whole stronger, never change its sign."""
        parts: list[turns.Part] = []
        lx = self.lexicon
        modifiers, boost, boost_at = lx.modifiers, 1.0, (-9, -1)
        for i, t in enumerate(tokens):
            word = t.word
            if word in modifiers or word == "好" and self._before_sentiment(tokens, i):
                boost, boost_at = modifiers.get(word, 1.5), (i, t.clause)
                continue
            value = self._value(word, t.negated)
            if value is None or word == "好" and not self._predicative(tokens, i) or t.wish and value[0] > 0:
                continue
            near = i - boost_at[0] <= _MODIFIER_REACH and t.clause == boost_at[1] and not t.negated
            degree = 1.0 if t.negated else lx.degree.get(word, 1.0)
            parts.append(turns.Part(i, value[0] * t.weight * (boost if near else 1.0) * degree, value[1]))
        if not text:
            return round(sum(p.value for p in parts), 3), tuple(dict.fromkeys(p.driver for p in parts))
        polite = _POLITE_QUESTION.search(text)
        found = [
            (m.group(0), w)
            for pattern, w in lx.cues
            if (m := pattern.search(text)) and not (polite and w > -1)
        ]
        fact_score, fact_drivers = facts.find(tokens, text, lx.positive, lx.negative, lx.negators)
        elsewhere = sum(w for _, w in found) + fact_score
        question = bool(polite) or text.rstrip().endswith(("?", "？"))
        # expectations, sarcasm, choice questions (textanalysis.turns)
        parts = turns.apply(tokens, parts, elsewhere, question)
        score = sum(p.value for p in parts) + elsewhere
        if score and _EXCLAIMED.search(text):
            score *= 1.5
        drivers = [p.driver for p in parts] + [d for d, _ in found] + list(fact_drivers)
        return round(score, 3), tuple(dict.fromkeys(drivers))

    def _value(self, word: str, negated: bool) -> tuple[float, str] | None:
        """A word's polarity and its driver's name, or None; a long piece jieba glued
        together counts by the sentiment word inside it (质量太差劲了 → 差劲)."""
        lx = self.lexicon
        if word in lx.positive:
            return (-1.0 if negated else 1.0), ("不" if negated else "") + word
        if word in lx.negative:
            return (0.5 if negated else -1.0), ("不" if negated else "") + word
        if len(word) == 2 and word[0] in _DEGREE_CHARS and (word[1] in lx.positive or word[1] in lx.negative):
            # 好慢, 超贵: a degree character and a sentiment character jieba kept together
            return (1.0 if word[1] in lx.positive else -1.0), word
        if len(word) < 3 or word.isascii() or word in lx.words or word in tokenizer().FREQ:
            return None  # a word jieba knows has its own meaning (满意度 is not praise)
        for size in lx.sentiment_lengths:
            for start in range(len(word) - size + 1):
                part = word[start : start + size]
                if part in lx.positive or part in lx.negative:
                    if start and word[start - 1] in _NEGATOR_CHARS:
                        return None  # under a negator glued inside (质量不差劲): not guessed at
                    return (1.0 if part in lx.positive else -1.0), part
        return None

    def _predicative(self, tokens: tuple[Token, ...], i: int) -> bool:
        """好 alone is praise when it is the clause (好！) or follows a degree word or 也/都/就
        (效果很好, 味道也好), not in 好多 or 装好 (done)."""
        clause = tokens[i].clause
        if tokens[i].negated:
            return True  # 不好
        before = tokens[i - 1] if i and tokens[i - 1].clause == clause else None
        after = tokens[i + 1] if i + 1 < len(tokens) and tokens[i + 1].clause == clause else None
        if before is None:
            return after is None or after.word in _PARTICLES
        return before.word in self.lexicon.modifiers or before.word in _BEFORE_PREDICATIVE

    def _before_sentiment(self, tokens: tuple[Token, ...], i: int) -> bool:
        lx = self.lexicon
        return (
            i + 1 < len(tokens)
            and tokens[i + 1].clause == tokens[i].clause
            and (tokens[i + 1].word in lx.positive or tokens[i + 1].word in lx.negative)
        )

    def _aspects(self, tokens: tuple[Token, ...]) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
        """Aspect codes found in ``tokens`` and the (code, term) pairs behind them; negation ignored."""
        heads, inside = self.lexicon.aspect_heads, self.lexicon.aspect_inside
        found: set[tuple[str, str]] = set()
        words = [t.word for t in tokens]
        for i, word in enumerate(words):
            for rest, term, code in heads.get(word, ()):
                if not rest or tuple(words[i + 1 : i + 1 + len(rest)]) == rest:
                    found.add((code, term))
            if len(word) > 2 and not word.isascii():
                for size in inside:
                    for start in range(len(word) - size + 1):
                        part = word[start : start + size]
                        if part != word:
                            found.update((code, term) for rest, term, code in heads.get(part, ()) if not rest)
        pairs = tuple(sorted(found))
        return tuple(sorted({code for code, _ in pairs})), pairs

    def _certain(self, tokens: tuple[Token, ...]) -> bool:
        """An affirmed complaint word, or any negated word: the model may not decide.

        The negation engine knows a negator's scope; a bag of words and bigrams does not
        (快递没有丢 would read as a lost parcel), so negated comments keep the lexicon's view.
        """
        return any(t.negated or t.word in self.lexicon.complaint for t in tokens)

    def category_of(
        self, tokens: tuple[Token, ...], text_lower: str, score: float
    ) -> tuple[str, tuple[str, ...]]:
        """The category and the cue words behind it (none when the score decided)."""
        lx = self.lexicon
        affirmed = {t.word for t in tokens if not t.negated}
        complaint = sorted(affirmed & lx.complaint)
        suggestion = sorted(affirmed & lx.suggestion) + [
            c for c in sorted(lx.suggestion) if " " in c and c in text_lower
        ]
        inquiry = sorted(affirmed & lx.inquiry) + [
            c for c in sorted(lx.inquiry) if " " in c and c in text_lower
        ]
        ends_asking = text_lower.rstrip().endswith(("?", "？"))
        # praise that mentions 怎么 (还教我怎么保养) does not ask; a question mark does
        asks = bool(inquiry) and (score <= 0 or ends_asking) or ends_asking
        # a question that opens with 请问 asks even without its question mark
        polite = _POLITE_QUESTION.search(text_lower) and (ends_asking or _POLITE_OPENING.match(text_lower))
        if complaint and not (polite and score >= -1):  # 请问退款一般几天到账？ asks
            return "complaint", tuple(complaint)
        if suggestion and score > -2 and not self._problem_before_wish(tokens):
            return "suggestion", tuple(suggestion)
        if inquiry and -1 <= score < 0 and not _EXASPERATED.search(text_lower):
            # a question that names one problem (请问怎么退货？) asks, it does not complain
            return "inquiry", tuple(inquiry)
        if score < 0:
            return "complaint", ()
        if asks:
            return "inquiry", tuple(inquiry) or ("?",)
        if suggestion:
            return "suggestion", tuple(suggestion)
        return ("praise" if score > 0 else "other"), ()

    def _problem_before_wish(self, tokens: tuple[Token, ...]) -> bool:
        """A problem named before a wish in its sentence, and nothing good (这次体验不太理想，希望能
        重视一下): a complaint, politely; 不算差也不算好，希望… stays a suggestion."""
        lx = self.lexicon
        wish = next((t for t in tokens if t.wish), None)
        if wish is None:
            return False
        before = [t for t in tokens if t.sentence == wish.sentence and not t.wish]
        bad = [t.word in (lx.positive if t.negated else lx.negative) for t in before]
        good = [t.word in (lx.negative if t.negated else lx.positive) for t in before]
        return any(bad) and not any(good)

    def _keywords(self, tokens: tuple[Token, ...], top: int) -> tuple[str, ...]:
        idf, median = keyword_idf()
        lx = self.lexicon
        counts = Counter(
            t.word
            for t in tokens
            if t.word not in _STOPWORDS
            and t.word not in lx.negators
            and not t.word.isdigit()
            and (len(t.word) > 1 or t.word in lx.splittable)
        )
        ranked = sorted(counts, key=lambda w: (-counts[w] * idf.get(w, median), w))
        return tuple(ranked[:top])

    def _analyze(self, text: str, top_keywords: int = 5) -> TextAnalysis:
        """Segment ``text`` and derive sentiment, category and keywords (cached as ``analyze``)."""
        tokens = self.segment(text)
        score, drivers = self._score(tokens, normalize(text).lower())
        sentiment = "positive" if score > 0 else "negative" if score < 0 else "neutral"
        category, cues = self.category_of(tokens, text.lower(), score)
        if category == "inquiry" and score < 0:
            sentiment = "neutral"
        source, model = "lexicon", self.model if self.model is not None else _model
        # The model only fills in where the lexicon found no polarity (it learned topics
        # as well as opinions: 客服 leans negative); questions and suggestions keep
        # theirs, since scored comments are mostly verdicts.
        if (
            model is not None
            and sentiment == "neutral"
            and category not in ("inquiry", "suggestion")
            and not self._certain(tokens)
        ):
            vote = model.polarity(tokens, text)
            if vote is not None and vote.probability >= MODEL_CONFIDENCE:
                sentiment, source, drivers = vote.label, "model", vote.drivers
                category, cues = self.category_of(
                    tokens, text.lower(), -1.0 if vote.label == "negative" else 1.0
                )
        aspects, aspect_terms = self._aspects(tokens)
        return TextAnalysis(
            tokens=tokens,
            sentiment=sentiment,
            score=score,
            category=category,
            keywords=self._keywords(tokens, top_keywords),
            source=source,
            drivers=drivers,
            category_cues=cues,
            model_version=model.version if model is not None else None,
            aspects=aspects,
            aspect_terms=aspect_terms,
            lexicon_version=self.version,
        )

    # rule keywords ------------------------------------------------------------------------

    def _keyword_form(self, keyword: str) -> tuple[str, ...]:
        """A rule keyword as the word sequence it must match (cached as ``keyword_form``)."""
        negators = self.lexicon.negators
        return tuple(t.word for t in self.segment(keyword) if t.word not in negators) or (keyword.lower(),)

    def find_keyword(self, analysis: TextAnalysis, keyword: str) -> bool:
        """True when ``keyword`` occurs in the text as whole words and is not negated.

        A keyword of several words ("送货 慢", "call back") matches the same words in a
        row. A Chinese keyword of two or more characters also matches inside a longer
        word jieba kept whole (客服 in 在线客服), unless that word is negated; so does a
        Chinese keyword of several words, joined (送货 慢 in 送货慢, a lexicon word).
        """
        form = self.keyword_form(keyword)
        tokens = analysis.tokens
        n = len(form)
        for i in range(len(tokens) - n + 1):
            window = tokens[i : i + n]
            if all(t.word == w for t, w in zip(window, form, strict=True)) and not window[0].negated:
                return True
        joined = "".join(form)
        if len(joined) >= 2 and not any(_ENGLISH_WORD.match(w) for w in form):
            return any(joined in t.word and not t.negated for t in tokens)
        return False


_current = Analyzer(_SHIPPED)
_install_lock = threading.Lock()


def current() -> Analyzer:
    """The process's current analyzer (the shipped lists until a service installs another)."""
    return _current


def use_analyzer(analyzer: Analyzer) -> Analyzer:
    """Make ``analyzer`` the process's current one unless a newer lexicon is installed
    already (replicas sharing a process may load revisions in any order). Returns the
    current one."""
    global _current
    with _install_lock:
        if analyzer.version >= _current.version and analyzer is not _current:
            _current = analyzer
        return _current


def aspects() -> tuple[str, ...]:
    """The live aspect codes of the process's current analyzer (shipped, then added)."""
    return _current.lexicon.aspects


def aspect_label(code: str, language: str) -> str | None:
    """The label of an aspect code an admin added, in ``language`` (None: not one)."""
    return _current.lexicon.aspect_labels.get(code, {}).get(language)


def reset_analyzer() -> None:
    """Back to the shipped lists (tests, tools)."""
    global _current
    with _install_lock:
        _current = Analyzer(_SHIPPED)


def use_model(model) -> None:
    """Consult ``model`` where the lexicon finds no polarity (None: lexicon only); clears
    every analyzer's cache. Process-wide: every later ``analyze`` call in this process uses it."""
    global _model
    _model = model
    for analyzer in list(_analyzers):
        analyzer.clear()


def active_model():
    return _model


def analyze(text: str, top_keywords: int = 5) -> TextAnalysis:
    """``current().analyze``: segment ``text`` and derive sentiment, category, keywords, aspects."""
    return _current.analyze(text, top_keywords)


analyze.cache_clear = lambda: _current.clear()  # type: ignore[attr-defined]


def segment(text: str) -> tuple[Token, ...]:
    return _current.segment(text)


def keyword_form(keyword: str) -> tuple[str, ...]:
    return _current.keyword_form(keyword)


def find_keyword(analysis: TextAnalysis, keyword: str) -> bool:
    return _current.find_keyword(analysis, keyword)


def warm_up() -> None:
    """Load the tokenizer and the IDF table now (~1 s) rather than on the first event."""
    tokenizer()
    keyword_idf()
    analyze("预热 warm-up")
