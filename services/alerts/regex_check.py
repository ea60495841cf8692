"""Which regular expressions a rule may use: refuse shapes that backtrack exponentially.

Python's ``re`` backtracks and has no time limit, and the alerts worker runs a
rule's regex on every event's text (up to 10,000 characters): ``(a+)+$`` on 30
a's and a "!" takes minutes, and the whole service waits. The check reads the
pattern with the stdlib's own parser and refuses two shapes:

* a repeated group whose body holds a variable-length repeat and nothing
  mandatory that the repeat cannot also match (``(a+)+``, ``(x+x+)+``,
  ``(.*a){12}``, ``(\\w+\\s?)+``), so a text splits between the iterations in
  exponentially many ways; ``(\\w+\\.)*`` passes, the dot separates them;
* a repeated alternation whose alternatives can match the same text in two
  ways: literal words that are not uniquely decodable (``(a|aa)+``, ``(ab|a|b)+``;
  ``(退款|退货)+`` passes), or alternatives that can start with the same
  character or match nothing (``(\\d+|1x)+``, ``(a|a?)+``). Alternatives of
  single characters are a character class to ``re`` (``(\\w|\\d)+`` is
  ``[\\w\\d]+``) and pass.

Possessive repeats and atomic groups never backtrack and pass. It is a
heuristic, conservative where it is unsure; polynomial shapes such as
``.*a.*a.*a`` are not caught (docs/rules.md).
"""

from __future__ import annotations

import re
import re._constants as sre  # the stdlib's regex parser: the check reads what re will run
import re._parser as sre_parser

REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)  # not POSSESSIVE_REPEAT: it never backtracks
BIG_REPEAT = 100
# Characters the sets are compared on: ASCII, and a few of each other kind a text holds.
UNIVERSE = [chr(c) for c in range(128)] + list("退款货投诉，。é٣\u3000\u00a0\u2028")
CATEGORY_PATTERNS = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` could take exponential time on some text, or None."""
    try:
        parsed = sre_parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None  # re.compile reports it
    problem = _walk(list(parsed), parsed.state)
    return f"{problem}: it can take exponential time on some texts" if problem else None


def _flat(body: list) -> list:
    """A body that is one group, as the group's contents: ``((a+)b)+`` is ``(a+b)+``."""
    while len(body) == 1 and body[0][0] is sre.SUBPATTERN:
        body = list(body[0][1][3])
    return body


def _big(item) -> bool:
    op, av = item
    return op in REPEATS and (av[1] == sre.MAXREPEAT or av[1] > BIG_REPEAT)


def _variable(item, state) -> bool:
    """Whether ``item`` can match texts of different lengths (``a+``, ``a?``, ``(|bar)``)."""
    op, _ = item
    if op is sre.POSSESSIVE_REPEAT or op is sre.ATOMIC_GROUP:
        return False  # never gives back what it took
    low, high = sre_parser.SubPattern(state, [item]).getwidth()
    return low != high


def _walk(items: list, state) -> str | None:
    for op, av in items:
        if op in REPEATS and av[1] > 1:
            body = _flat(list(av[2]))
            outer_big = _big((op, av))
            for inner in _variable_parts(body, state):
                if (outer_big or _big(inner)) and _unseparated(body, inner):
                    return "a quantifier inside a quantified group"
            if outer_big and (_ambiguous_alternation(body) or _twin_alternatives(body)):
                return "a repeated alternation whose alternatives can match alike"
        for child in _children(op, av):
            found = _walk(child, state)
            if found:
                return found
    return None


def _children(op, av) -> list[list]:
    if op in REPEATS or op is sre.POSSESSIVE_REPEAT:
        return [list(av[2])]
    if op is sre.SUBPATTERN:
        return [list(av[3])]
    if op is sre.BRANCH:
        return [list(branch) for branch in av[1]]
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [list(av[1])]
    if op is sre.GROUPREF_EXISTS:
        return [list(part) for part in av[1:] if part is not None]
    return []  # single characters, classes, ATOMIC_GROUP (no backtracking into it)


def _variable_parts(items: list, state) -> list:
    """The parts of a body that can match different lengths, inside its groups too."""
    found = []
    for item in items:
        op, av = item
        if op in (sre.SUBPATTERN,):
            found += _variable_parts(list(av[3]), state)
        elif _variable(item, state):
            found.append(item)
    return found


def _mandatory(item) -> bool:
    op, av = item
    if op in REPEATS or op is sre.POSSESSIVE_REPEAT:
        return av[0] >= 1
    if op is sre.SUBPATTERN:
        return any(_mandatory(i) for i in av[3])
    return op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY)


def _unseparated(body: list, repeat) -> bool:
    """True unless something the body must match cannot be matched by ``repeat``."""
    chars = _chars([repeat])
    return not any(item is not repeat and _mandatory(item) and not (_chars([item]) & chars) for item in body)


def _chars(items: list) -> set[str]:
    """The characters of UNIVERSE that ``items`` can consume."""
    out: set[str] = set()
    for op, av in items:
        if op is sre.LITERAL:
            out.add(chr(av))
        elif op is sre.NOT_LITERAL:
            out.update(c for c in UNIVERSE if c != chr(av))
        elif op is sre.ANY:
            out.update(UNIVERSE)
        elif op is sre.IN:
            out.update(c for c in UNIVERSE if _in_class(av, c))
        else:
            for child in _children(op, av):
                out |= _chars(child)
            if op is sre.ATOMIC_GROUP:
                out |= _chars(list(av))
    return out


def _in_class(members, char: str) -> bool:
    negate = False
    hit = False
    for op, av in members:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            hit = hit or char == chr(av)
        elif op is sre.RANGE:
            hit = hit or av[0] <= ord(char) <= av[1]
        elif op is sre.CATEGORY:
            pattern = CATEGORY_PATTERNS.get(av)
            hit = hit or pattern is None or re.fullmatch(pattern, char) is not None
        else:
            hit = True  # anything unusual: assume it can
    return hit != negate


def _ambiguous_alternation(body: list) -> bool:
    """For a repeated body that is one alternation: can two iterations split a text two ways?

    An alternation beside something mandatory (``(x(a|aa))+``, or ``(foo|foobar)+``,
    which the parser reads as ``foo(|bar)``) is anchored by it and passes.
    """
    if len(body) != 1 or body[0][0] is not sre.BRANCH:
        return False
    branches = [list(branch) for branch in body[0][1][1]]
    words = [_literal_word(b) for b in branches]
    if all(w is not None for w in words):
        return not _uniquely_decodable([w for w in words if w is not None])
    firsts: list[set[str]] = []
    for branch in branches:
        first = _first_chars(branch)
        if first is None or any(first & seen for seen in firsts):
            return True
        firsts.append(first)
    return False


def _twin_alternatives(items: list) -> bool:
    """An alternation anywhere in the body with the same word twice (``(a|a)`` reads as
    ``a(|)``): every iteration can match two ways."""
    for op, av in items:
        if op is sre.BRANCH:
            words = [_literal_word(list(b), empty=True) for b in av[1]]
            known = [w for w in words if w is not None]
            if len(set(known)) != len(known):
                return True
        for child in _children(op, av):
            if _twin_alternatives(child):
                return True
    return False


def _literal_word(items: list, empty: bool = False) -> str | None:
    if (items or empty) and all(op is sre.LITERAL for op, _ in items):
        return "".join(chr(av) for _, av in items)
    return None


def _first_chars(items: list) -> set[str] | None:
    """Characters a sequence can start with; None when it can match nothing at all."""
    for item in items:
        op, av = item
        chars = _chars([item]) if op not in (sre.SUBPATTERN,) else _first_chars(list(av[3]))
        if chars is None:
            continue
        if _mandatory(item):
            return chars
        rest = _first_chars(items[items.index(item) + 1 :])
        return None if rest is None else chars | rest
    return None


def _uniquely_decodable(words: list[str]) -> bool:
    """Sardinas–Patterson: no text splits into these words in two ways."""
    code = set(words)
    if len(code) != len(words) or "" in code:
        return False
    dangling = {w[len(v) :] for w in code for v in code if w != v and w.startswith(v)}
    seen: set[str] = set()
    while dangling:
        if dangling & code:
            return False
        seen |= dangling
        nxt = set()
        for d in dangling:
            for w in code:
                if w.startswith(d):
                    nxt.add(w[len(d) :])
                if d.startswith(w):
                    nxt.add(d[len(w) :])
        nxt.discard("")
        dangling = nxt - seen
    return True
