"""Where a comment's words say less than, or the opposite of, what it means.

``textanalysis.text`` scores each sentiment word where it stands (a ``Part``: the word's
position, its value, its driver). Some constructions turn those values around, and a word
list alone cannot see them:

* **an expectation** (本以为是实木的，没想到是压缩板; 宣传说续航十小时，实际三小时就没电了): the
  words of the clause that states what was expected describe the expectation, not the
  outcome, so they do not count. If nothing else in the comment has a polarity, an expectation
  that was positive or plain was not met (``unmet:以为``, −1) and one that was a worry was
  relieved (原本担心尺码不合适，结果刚刚好: ``relief:担心``, +1). A claim (说是, 号称, 宣传,
  看着) is an expectation only when a later clause tells what turned out (结果, 实际, 只有, 又,
  到手 …); the strong words (以为, 本以为, 期待, 原本担心) need only a clause after them.
* **sarcasm** (真是太棒了，等了三个小时才上菜; 效率真高啊，退个款退了一个月): praise in the
  first clause, said with an exclaiming marker (真, 太, 好极了, 谢谢你们, 不愧) and no
  contrast word, next to a problem told in the rest of the comment. A sincere mixed comment
  says 但是 or 就是 (很好吃，就是等了一个小时); sarcasm does not, so the praise counts as blame
  (``sarcasm:<word>``).
* **a competitor** (之前在别家踩过坑，这家完全没问题; 别家都很贵): what a clause says of
  another business (别家, 别的店, 其他家) and without comparing (比, 不如) counts the other way
  for this one (``other:<word>``).
* **a choice question** (尺码偏大还是偏小？): the sentiment words joined by 还是 in a question
  are options, not a verdict; **a polite request** (麻烦查一下, 麻烦多给两双筷子): 麻烦 before a verb
  or opening a request asks; **words that are no verdict here**: 晚点 that tells when (晚点再来评),
  快 that means almost (快到期了), 垃圾 carried off (垃圾都带走了).
* **a claim that held** (说是今天发货，果然今天就发了): 果然 / 确实 after it, nothing unmet.

Each turn names itself among the result's drivers, so an explanation shows it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

EXPECT = frozenset(
    "以前觉得 之前觉得 原来觉得 本来觉得 以为 本以为 原以为 还以为 满以为 原本以为 本来以为 原来以为".split()
    + "期待 满怀期待 满心期待 担心 原本担心 本来担心 原本怕 本来怕".split()
    + "开始觉得 一开始觉得 刚开始觉得 起初觉得 开始以为 一开始以为".split()
)
CLAIMED = frozenset(
    "说 说是 号称 宣传 宣传说 宣称 看着 看起来 看上去 介绍说 图片 照片 详情页 写的 写着 标的 标着".split()
)
# what says a claim held (果然今天就发了)
MET = frozenset("果然 确实 的确 真的 果真 说到做到".split())
# an expectation that was a worry (以为要等很久): what turned out relieved it
WORRY = frozenset("担心 怕 害怕 生怕 等 排队 久 慢 难 麻烦 踩雷 踩坑 不好 不行".split())
# what turned out, in a clause after a claim
OUTCOME = frozenset(
    "只有 才 就 又 却 竟然 居然 还要 结果 实际 实际上 到手 收到 拿到 打开 一看 发现 其实 根本 完全".split()
)
# the expectation word stands at the head of its clause (我本以为, 原本担心), not inside it (比我以为的好)
_EXPECT_HEAD = 3
SARCASM_MARKERS = frozenset(
    "真 真是 可真 真的是 实在是 太 好极了 厉害 厉害了 佩服 不愧 谢谢 感谢 多谢 谢谢你们 感谢你们 呵呵".split()
)
OTHERS = frozenset(
    "别家 别人家 其他家 别的店 别的商家 其他店 其他商家 别处 别的地方 别的平台 其他平台".split()
)
_COMPARING = frozenset("比 不如 比不上 还不如 没有 跟 和 像".split())
_REQUEST_VERBS = frozenset(
    "你 您 你们 帮 帮忙 帮我 给 查 查一下 查查 看 看看 看一下".split()
    + "处理 尽快 安排 告诉 发 改 联系 确认 核实 下".split()
)
# a request that opens its clause (麻烦多给两双筷子) may start with any of these too
_REQUEST_OPENERS = frozenset("多 再 把 帮忙 给我 帮我 换 开 送 放 留 备注 催 通知 补 退 提前".split())
# 晚点 that tells when, not a delay: 晚点再来评, 会晚点到
_LATER_BEFORE = frozenset("会 我会 要 我要 可能 稍 稍微 我 先 得".split())
# 垃圾 carried off or cleared is rubbish, not a verdict (垃圾都带走了)
_HAULING = frozenset(
    "带走 带走了 清走 清理 收拾 拿走 拿走了 分类 扔 扔掉 倒 倒掉 清运 打扫 处理掉 运走".split()
)
_ALSO = frozenset("都 也 全 全都 也都 顺便 顺手 给".split())
# what staff do to a question (耐心解答我的问题)
_ANSWERING = frozenset("解答 耐心解答 回答 答疑 解释 讲解 咨询 请教 记录 拍".split())
# 快 that means "almost": 快到期了, 快用完了
_ALMOST = ("到", "要", "过", "满", "用完", "结束", "没", "被")
# … or before an amount: 等了快一个月, 快两年了, 快十二点了 (not 快一点, 快一些: a request)
_ALMOST_AMOUNT = re.compile(
    r"^(?!一点|一些|一下)[一两二三四五六七八九十百千万半几\d]+个?多?(年|天|月|周|星期|礼拜|小时|分钟|钟头|点|次|遍|趟)"
)


class Part(NamedTuple):
    at: int  # the token's position
    value: float
    driver: str


def _clause_of(tokens: Sequence, part: Part) -> int:
    return tokens[part.at].clause


def expectation(tokens: Sequence, parts: list[Part], elsewhere: float) -> tuple[list[Part], list[Part]]:
    """``parts`` without the expectation clause's, and the turn it adds (``unmet:`` or
    ``relief:``), if any; ``elsewhere``: the score of the comment's patterns and facts."""
    head = _expectation_head(tokens)
    if head is None:
        return parts, []
    clause = tokens[head].clause
    stated = [p for p in parts if _clause_of(tokens, p) == clause]
    rest = [p for p in parts if _clause_of(tokens, p) != clause]
    expected = sum(p.value for p in stated)
    outcome = sum(p.value for p in rest) + elsewhere
    if outcome:
        return rest, []  # the outcome has its own polarity: it decides
    if any(t.clause > clause and t.word in MET for t in tokens):
        return rest, []  # 说是今天发货，果然今天就发了: the claim held
    word = tokens[head].word
    if head + 1 < len(tokens) and word + tokens[head + 1].word in EXPECT | CLAIMED:
        word += tokens[head + 1].word  # 说 + 是
    worried = expected < 0 or any(t.clause == clause and t.word in WORRY for t in tokens)
    turn = Part(head, 1.0, f"relief:{word}") if worried else Part(head, -1.0, f"unmet:{word}")
    return rest, [turn]


def _expectation_head(tokens: Sequence) -> int | None:
    """The position of the word that states an expectation, or None."""
    start = 0
    for i, t in enumerate(tokens):
        if i and t.clause != tokens[i - 1].clause:
            start = i
        if i - start >= _EXPECT_HEAD or t.negated:
            continue
        later = any(u.clause > t.clause for u in tokens[i + 1 :])
        pair = t.word + tokens[i + 1].word if i + 1 < len(tokens) else ""  # 说 + 是, 以前 + 觉得
        if (t.word in EXPECT or pair in EXPECT) and later:
            return i
        if (t.word in CLAIMED or pair in CLAIMED) and any(
            u.clause > t.clause and (u.word in OUTCOME or u.weight != 1.0) for u in tokens[i + 1 :]
        ):
            return i
    return None


def sarcasm(tokens: Sequence, parts: list[Part], elsewhere: float) -> list[Part]:
    """``parts`` with the opening praise turned into blame when it is sarcastic."""
    if not tokens or any(t.weight != 1.0 for t in tokens):
        return parts  # a contrast or a concession: a sincere mixed comment
    first = tokens[0].clause
    praise = [p for p in parts if p.value > 0]
    opening = [p for p in parts if _clause_of(tokens, p) == first]
    if not praise or any(_clause_of(tokens, p) != first for p in praise) or any(p.value < 0 for p in opening):
        return parts
    problem = sum(p.value for p in parts if _clause_of(tokens, p) != first) + min(elsewhere, 0.0)
    marked = any(
        t.clause == first
        and (t.word in SARCASM_MARKERS or t.word[:1] == "太" or "真" in t.word or "极" in t.word)
        for t in tokens
    )
    if problem >= 0 or not marked:
        return parts
    return [Part(p.at, -p.value, f"sarcasm:{p.driver}") if p.value > 0 else p for p in parts]


def competitor(tokens: Sequence, parts: list[Part]) -> list[Part]:
    """``parts`` with a competitor's clause counted the other way."""
    clauses = {t.clause for t in tokens if t.word in OTHERS}
    clauses -= {t.clause for t in tokens if t.word in _COMPARING}
    if not clauses:
        return parts
    return [
        Part(p.at, -p.value, f"other:{p.driver}") if _clause_of(tokens, p) in clauses else p for p in parts
    ]


def options(tokens: Sequence, parts: list[Part], question: bool) -> list[Part]:
    """``parts`` without the options of a choice question, a polite request's 麻烦 and the
    words that are no verdict here (晚点再来, 快到期了, 垃圾都带走了)."""
    out = []
    for p in parts:
        before = tokens[p.at - 1] if p.at else None
        after = tokens[p.at + 1] if p.at + 1 < len(tokens) else None
        near = [t for t in (before, after) if t is not None and t.clause == tokens[p.at].clause]
        if question and any(t.word == "还是" for t in near):
            continue  # 偏大还是偏小？
        neighbours = (before if before in near else None, after if after in near else None)
        if _not_a_verdict(tokens[p.at].word, *neighbours):
            continue  # 麻烦查一下, 晚点再来, 快到期了
        if tokens[p.at].word == "垃圾" and _hauled(tokens, p.at):
            continue  # 垃圾都带走了: the rubbish itself
        out.append(p)
    return out


def _hauled(tokens: Sequence, at: int) -> bool:
    """垃圾 is the rubbish itself when it is carried off or cleared (垃圾都带走了, 把垃圾清理干净)."""
    clause = tokens[at].clause
    after = [t.word for t in tokens[at + 1 : at + 4] if t.clause == clause and t.word not in _ALSO]
    before = tokens[at - 1].word if at and tokens[at - 1].clause == clause else ""
    return bool(after) and after[0] in _HAULING or before in _HAULING or before == "把"


def _not_a_verdict(word: str, before, after) -> bool:
    """A sentiment word that here asks (麻烦查一下, 麻烦多给两双筷子), tells when (晚点再来评, 会晚点到)
    or means "almost" (快到期了); ``before`` and ``after``: its neighbours in the clause, or None."""
    if after is None:
        return False
    if word == "麻烦":
        return after.word in _REQUEST_VERBS or before is None and after.word in _REQUEST_OPENERS
    if word == "晚点":
        return after.word.startswith("再") or before is not None and before.word in _LATER_BEFORE
    return word == "快" and (after.word.startswith(_ALMOST) or bool(_ALMOST_AMOUNT.match(after.word)))


def answered(tokens: Sequence, parts: list[Part]) -> list[Part]:
    """问题 that staff answered or solved (耐心解答我的问题, 帮我解决了问题) names no problem of theirs."""
    kept = []
    for p in parts:
        word = tokens[p.at]
        before = tokens[max(p.at - 4, 0) : p.at]
        if word.word == "问题" and any(t.clause == word.clause and t.word in _ANSWERING for t in before):
            continue
        kept.append(p)
    return kept


def apply(tokens: Sequence, parts: list[Part], elsewhere: float, question: bool) -> list[Part]:
    """The parts after every turn, the turns' own parts included."""
    parts = options(tokens, answered(tokens, parts), question)
    if question:
        return parts
    parts, turned = expectation(tokens, competitor(tokens, parts), elsewhere)
    return sarcasm(tokens, parts, elsewhere) + turned
