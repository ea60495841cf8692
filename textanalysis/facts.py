"""Complaints and praise told as plain facts, with no opinion word.

买回来第二天屏幕就黑了, 打了五个电话都没人接, 同一笔订单扣了我两次钱, 当天下单第二天就到了:
no word of these is an opinion, yet each is a verdict. ``find`` reads the segmented,
negation-aware words of a comment (``textanalysis.text.Token``) for patterns of such facts
and returns their score and drivers, each driver named after its pattern so an explanation
shows why (``fault:黑``, ``soon:第二天``, ``broken_promise``, ``fast:第二天就到``).

Patterns (weights in ``WEIGHTS``; word sets in ``lexicon/facts.txt``):

* ``fault:X`` a fault or failure: a listed fault word (绿线, 滴水), or a one-character fault
  told as a result (黑了, 就碎, 扔在门口, 给摔); ``soon:T`` a fault soon after a time or a
  first use (第二天…就黑了, 洗一次就掉色, 没几天就坏) weighs more;
* ``broken_promise`` a promise or an appointment (说好, 约好, 答应, 承诺) followed in the
  sentence by something not done (没给, 没来, 才来); ``no_show`` 一直 / 到现在 / 根本 followed
  by something not done (一直没出现);
* ``repeated_contact`` counted attempts to reach someone (打了五个电话, 问了两遍) that
  went unanswered (没人接, 不回, 占线, 说法不一样), or, weighing −1, counted chasing alone
  (催了五次, 跑了三趟);
* ``overcharge`` charged twice or more (扣了我两次钱, 多收, 重复扣费, 多了一笔);
* ``waiting:…`` a long wait (等了四十分钟, 排了两个半小时, 一个月了还在审核, 三天才到);
* ``late:T才X`` something done only at a clock time or after a duration (八点才来);
* ``wrong_item`` received something else than ordered, used or old (买的黑色，发来的是白色;
  收到的是二手的);
* ``short_of_claim`` not as advertised (没有宣传的那么长, 不如图片上的);
* ``sarcasm`` a praise word in quotes (真是“好”服务), 谢谢你全家, 真行啊;
* on the positive side ``fast:T就X`` done soon (第二天就到, 半小时就退回来了), ``helpful:X``
  staff who help (师傅…帮忙搬走), ``gift`` (还送了果盘), ``remedy`` a problem put right at once
  (二话没说就补发了), ``durable`` no fault after long or repeated use (洗了十几次都没掉色), and
  a one-character fault negated (没碎, 没卡过: ``没碎``).

Negation: a negated word never makes a fault (没坏, 一次都没掉色 are not complaints; a
negated fault counts a little for the comment, as a negated negative word does), a word
right after a word ending in 没 or 未 (从来没 坏过) is negated too, and the patterns
over the text read negated words as masked (没有多扣 is not an overcharge). In a question
(ending in ？ or with 请问) no positive fact counts and the negative ones add at most -1 (nothing
when a listed negative word names the problem already), so a question that names one problem
stays an inquiry; in a wish (建议…) no positive fact counts, and no promise, contact or time
pattern reads the wished part (建议可以预约送货时间，上班族白天不在家 breaks no promise).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from textanalysis.lexicon import LEXICON_DIR

WEIGHTS = {
    "fault": -1.0,
    "soon": -0.5,
    "broken_promise": -1.5,
    "no_show": -1.0,
    "repeated_contact": -1.5,
    "overcharge": -1.5,
    "waiting": -1.0,
    "late": -1.0,
    "wrong_item": -1.5,
    "short_of_claim": -1.0,
    "sarcasm": -2.0,
    "fast": 1.5,
    "helpful": 1.5,
    "gift": 1.0,
    "remedy": 1.5,
    "durable": 1.0,
    "not_fault": 0.5,
}
_NEGATOR_END = frozenset("没未")  # 从来没 坏过; not 特别, 要不
_NUM = r"[零一二两三四五六七八九十百几半\d]+"
# a time, a duration or a first use before 就 / 才: 第二天, 三天, 一次, 没几天, 今天上午
_TIME = re.compile(
    rf"^(第|前|近|快|才|不到)?{_NUM}(个)?(多|半)?(天|日|周|月|年|点|点钟|点半|小时|分钟|钟头|星期|礼拜|次|遍|回|趟)(半|多)?$"
    r"|^(当天|当日|次日|隔天|隔日|今天|明天|昨天|昨晚|今晚|今早|当晚|上午|下午|中午|晚上|早上|凌晨|一早"
    r"|刚|刚刚|没几天|没两天|没多久|不久|一会|一会儿|不一会|不一会儿|没一会|没一会儿|一下子|首次|第一次|周[一二三四五六日末]|星期[一二三四五六日天])"
)
# 八点, 三天: a time told in numbers (才 after 今天 is no delay)
_CLOCK = re.compile(rf"{_NUM}|[点时天周月]$")
# a few minutes, done fast even without 就: 十五分钟搞定, 五分钟送到
# … not when it is only shown or promised (显示三分钟到, 说五分钟到)
_SAID = frozenset("显示 说 说是 预计 写着 写的 号称 承诺 保证 要 能 会 可以".split())
_MINUTES = re.compile(r"^([一二两三四五六七八九十]|十[一二三四五六七八九]|二十|[1-9]|1\d|20)分钟$")
_COUNT = re.compile(
    rf"^(第)?(?!一)(?!第一){_NUM}(个|次|遍|条|通|趟|回|家)|^(好几|好多|无数|多|很多)(次|遍|趟|回)$"
)
_LONG = (
    rf"(好?{_NUM}个?(多|半)?(小时|钟头|天|周|星期|礼拜|个?月|工作日)|[一半]整?(上午|下午|晚上|夜|宿|整天|天)(?![一二三四五六七八九十\d])"
    r"|([三四五六七八九]十|[3-9]\d)多?分钟|半个?小时)"
)
_WAITING = re.compile(
    rf"((等|排队|排|转人工|审核|处理|耽误|折腾|堵|晾)了?|(退|修|拖|加急)了)(快|近|将近|足足|整整|差不多|大概|至少|都)?{_LONG}"
    rf"|(?<!不到){_LONG}(了[^，。]{{0,4}}?)?(还|仍|仍然|依然)(在|没|是|未|不|显示|停|卡|冻|处于|挂|躺|待)"
    rf"|(?<!不到){_LONG}才[到来送发轮处回接退修上办给收开排派通]"
)
# a fault still absent after a while is no wait: 一个月了还没吃腻, 三年了还没坏
_LASTS = re.compile(
    r"(还|仍|仍然|依然)(没|未|不)有?(坏|腻|吃腻|出问题|出过问题|掉|褪|裂|断|漏|生锈|发霉|变形|起球|烦|厌)"
)
_OVERCHARGE = re.compile(
    r"(扣|收|付|支付|刷|扣费|扣款|收费)了?我?的?(两|二|2|三|3|双|好几)(次|遍|笔|回|份)"
    r"|(交|缴)了?(两|二|2|三|3|双|好几)(次|遍|笔|回|份)的?(钱|费|款)"
    r"|(多|重复|乱|无故|偷偷|私自|莫名其妙|莫名|额外|另外|还要)(扣|收|计费|算|扣费|收费|扣款)|多了?一笔|扣了?我?的?[^，。¬]{1,10}费"
)
_RECEIVED = re.compile(
    r"(收到|发来|寄来|送来|到手|拿到|发过来|寄过来|送过来|一看|打开)的?(是|竟然是|居然是|却是|发现是)?"
    r"[^不没，。]{0,4}?(二手|旧款|旧的|翻新|用过的|别人退|退货|残次|样品|临期|假货|山寨)"
)
_ORDERED_ELSE = re.compile(
    r"(?:买|下单|订|点|选|拍)[^，。]{0,2}的是?(?P<a>[^，。的]{1,6})[，。][^，。]{0,6}?"
    r"(?:(?:发|寄|送|给)(?:来|过来|我)?的|(?:到手|收到|拿到|打开)(?:一看|后|以后)?)"
    r"(?:是|却是|竟然是|居然是)(?P<b>[^，。！的]{1,6})"
)
_SARCASM = re.compile(r"谢谢(你|你们)?(全家|祖宗|八辈)|真(行|会做生意)(啊|呀|了)|真有(你|你们)的")
_REMEDY = re.compile(
    r"(主动|马上|立刻|立即|当场|很快|二话没说|二话不说|第一时间|及时)就?(给我|帮我|给)?(补|退|换|赔|修|重新|重发)"
    r"|(就|已经|都)(补发|补寄|重新发|退回来|退回|退了|换了新)"
)
_DURABLE = re.compile(r"(还|依然|仍然|都)(跟|和|像)新的?一样|还好好的")
_SINCE = re.compile(rf"^{_NUM}个?(多)?(天|周|星期|礼拜|个?月|年)$")  # 三天了没有人回复
_LONG_USE = re.compile(rf"^({_NUM}|好几|十几|几十)(个)?(多)?(年|个月|次|遍|回)(多)?$")
# what a customer waits for, glued to its negator: 没来, 没开, 没发货, 未到
_AWAITED = frozenset("来到发给开修退寄送做回联装换补出打派接轮")
_FILLER = frozenset("任何 一个 一点 什么 再 及时 按时 准时 马上".split())
# not as claimed: 没有宣传的那么长, 远不如图片 (the mirror of cues.txt's 和描述的一样)
_SHORT_OF_CLAIM = re.compile(
    r"(没有|没|不像|不如|远不如|达不到)(宣传|描述|介绍|广告|图片|照片|详情页|商家说|客服说|说)(的|上|里|中)?(那么|那样|这么|说的)"
)
_POLITE = re.compile(r"请问|想问|咨询|请教")


@lru_cache(maxsize=1)
def word_sets() -> dict[str, frozenset[str]]:
    """``lexicon/facts.txt``: set name → its words. Shipped data, not edited live."""
    sets: dict[str, frozenset[str]] = {}
    for number, line in enumerate((LEXICON_DIR / "facts.txt").read_text("utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, words = line.partition(":")
        if not sep or not name.strip().isidentifier():
            raise ValueError(f"facts.txt:{number}: expected 'name: word word …', got {line!r}")
        sets[name.strip()] = frozenset(words.split())
    return sets


@lru_cache(maxsize=1)
def _glued_faults() -> frozenset[str]:
    return word_sets()["result"] | word_sets()["fault"]


@lru_cache(maxsize=1)
def _staff() -> tuple[str, ...]:
    return tuple(word_sets()["staff"])


@dataclass(frozen=True)
class Unit:
    """A word as the patterns read it: 就/才 glued to a word are apart (第二天就到 → 第二天, 就,
    到), and a word right after one ending in a negator (从来没 坏过) is negated."""

    word: str
    negated: bool
    clause: int
    sentence: int
    weight: float
    wish: bool


def units(tokens: Iterable, faults: frozenset[str]) -> list[Unit]:
    """The units of ``tokens``; ``faults``: the fault words a glued negator is split off
    (没碎 → 没, 碎 negated)."""
    out: list[Unit] = []
    for t in tokens:
        after_negator = bool(out) and out[-1].clause == t.clause and out[-1].word[-1:] in _NEGATOR_END
        negated = t.negated or after_negator and len(out[-1].word) > 1
        parts = [t.word]
        for mark in ("就", "才") if len(t.word) > 1 else ():
            head, sep, tail = parts[-1].partition(mark)
            if sep and tail and len(parts[-1]) > 1:
                parts[-1:] = [p for p in (head, mark, tail) if p]
        for part in parts:
            rest = part[1:]
            fault = rest in faults or rest[:-1] in faults and rest[-1:] in ("了", "过")
            if rest and part[0] in "没不未" and fault:
                out.append(Unit(part[0], False, t.clause, t.sentence, t.weight, t.wish))
                out.append(Unit(rest, True, t.clause, t.sentence, t.weight, t.wish))
                continue
            out.append(Unit(part, negated, t.clause, t.sentence, t.weight, t.wish))
    return out


class Facts:
    """The facts of one comment: ``score`` and ``drivers`` once ``find`` has run."""

    def __init__(self, tokens, text: str, positive: frozenset[str], negative: frozenset[str], negators):
        self.sets = word_sets()
        self.units = units(tokens, _glued_faults())
        self.text = text
        self.positive, self.negative, self.negators = positive, negative, negators
        self.found: dict[str, float] = {}
        self.view = self._view()

    def add(self, kind: str, driver: str, weight: float = 1.0) -> None:
        """Count a fact once per driver."""
        if driver not in self.found:
            self.found[driver] = WEIGHTS[kind] * weight

    def _view(self) -> str:
        """The words again as text, negated ones masked (没有多扣 → 没有¬), clauses and
        sentences marked (， 。): what the patterns over the text read."""
        out, clause, sentence = [], 0, 0
        for u in self.units:
            if u.sentence != sentence:
                out.append("。")
            elif u.clause != clause:
                out.append("，")
            clause, sentence = u.clause, u.sentence
            out.append("¬" if u.negated else u.word)
        return "".join(out)

    # faults -----------------------------------------------------------------------------

    def is_fault(self, i: int) -> str | None:
        """The fault unit ``i`` tells of (affirmed or not), or None."""
        us, sets = self.units, self.sets
        word = us[i].word
        if word in sets["fault"]:
            return None if word in self.negative else word  # a listed negative word counts there
        if word in self.negators and i + 1 < len(us) and word + us[i + 1].word in sets["fault"]:
            return word + us[i + 1].word  # 没 + 声音
        stem = word[:-1] if len(word) == 2 and word[-1] in "了过" else word
        if stem not in sets["result"] or word in self.negative:
            return None
        if stem != word and word[-1] == "了":
            return stem  # 碎了, 裂了
        same = [u for u in us[max(i - 1, 0) : i + 2] if u.clause == us[i].clause]
        before = i and same[0] is not us[i] and same[0].word in sets["result_before"]
        after = same[-1] is not us[i] and same[-1].word in sets["result_after"]
        if stem in sets["handled"]:  # 扔在门口, 直接扔: not 我把旧手机扔了
            near = us[max(i - 3, 0) : i]
            before = any(u.word in sets["handled_before"] and u.clause == us[i].clause for u in near)
            after = after and same[-1].word in ("在", "到")
        told_negated = us[i].negated or word != stem  # 没卡过: a fault that did not happen
        return stem if before or after or told_negated else None

    def faults(self) -> None:
        """Faults affirmed (``fault:X``) and one-character faults negated (没碎, +0.5)."""
        skip = -1
        for i, u in enumerate(self.units):
            if i == skip:
                continue
            fault = self.is_fault(i)
            if fault is None:
                continue
            if fault.startswith(u.word) and u.word in self.negators:
                skip = i + 1  # the negator and its word are one fault (没声音)
                self.add("fault", f"fault:{fault}", u.weight)
            elif u.negated:
                if fault not in self.negative:
                    self.add("not_fault", f"没{fault}")
            else:
                self.add("fault", f"fault:{fault}", u.weight)

    def is_bad(self, i: int) -> bool:
        u = self.units[i]
        return not u.negated and (u.word in self.negative or self.is_fault(i) is not None)

    def after_time(self) -> None:
        """就 / 才 after a time: done fast, a fault soon, done late."""
        us, done = self.units, self.sets["done"]
        for j, u in enumerate(us):
            if u.word not in ("就", "才") or u.wish:
                continue
            times = [t for t in us[max(j - 4, 0) : j] if t.clause == u.clause and _TIME.search(t.word)]
            if not times:
                continue
            time = times[-1].word
            rest = [k for k in range(j + 1, min(j + 4, len(us))) if us[k].clause == u.clause]
            if u.word == "就":
                if rest and us[rest[0]].word in done and not us[rest[0]].negated:
                    self.add("fast", f"fast:{time}就{us[rest[0]].word}")
                elif any(self.is_bad(k) for k in rest):
                    self.add("soon", f"soon:{time}")
            elif rest and us[rest[0]].word in done and _CLOCK.search(time):
                self.add("late", f"late:{time}才{us[rest[0]].word}")
        for j, u in enumerate(us[:-1]):
            after = us[j + 1]
            quick = _MINUTES.search(u.word) and after.clause == u.clause
            if quick and after.word in done and not after.negated:
                said = any(t.word.startswith("等") or t.word in _SAID for t in us[max(j - 2, 0) : j])
                if not u.wish and not said:
                    self.add("fast", f"fast:{u.word}{after.word}")

    # things not done --------------------------------------------------------------------

    def not_done(self, i: int) -> bool:
        """Unit ``i`` tells of something not done: a negator before what a customer waits
        for (没给, 一直没出现), or such a word glued to its negator (没来, 没开)."""
        us = self.units
        u = us[i]
        if u.word in self.negators:
            after = [n for n in us[i + 1 : i + 3] if n.clause == u.clause]
            if after and after[0].word in _FILLER:
                after = after[1:]  # 没有任何消息, 没按时来
            return bool(after) and self.awaited(after[0].word)
        glued = len(u.word) > 1 and u.word[0] in "没未" and u.word not in self.negative  # 没来, 没开
        return glued and self.awaited(u.word[1:])

    def awaited(self, word: str) -> bool:
        """``word`` is what a customer waits for (来, 给, 出现, 人, 回复), not a problem (问题, 坏)
        nor something of their own (拆封, 时间, 空)."""
        if self._bad_word(word) or word in self.sets["not_breach"]:
            return False
        return word[0] in _AWAITED or word in self.sets["awaited"] or word in self.sets["unanswered"]

    def unanswered(self, i: int) -> bool:
        """Unit ``i`` says nobody answered: 没人接, 不回, 一直占线, 说法都不一样."""
        us, words = self.units, self.sets["unanswered"]
        u = us[i]
        if u.word in words and (u.negated or u.word[:1] in "没不" or i and us[i - 1].word in self.negators):
            return True
        glued = u.word[:1] in "没不未" and len(u.word) > 1 and u.word[1:2] in words
        return glued or u.word in self.sets["no_answer"]

    def _bad_word(self, word: str) -> bool:
        stem = word[:-1] if word[-1:] in "了过" else word
        return word in self.negative or stem in self.sets["result"] or word in self.sets["fault"]

    def sentences(self) -> dict[int, list[int]]:
        by: dict[int, list[int]] = {}
        for i, u in enumerate(self.units):
            by.setdefault(u.sentence, []).append(i)
        return by

    def broken(self, sentence: list[int]) -> None:
        """A promise, then something not done (``broken_promise``); 一直 / 到现在 then
        something not done within four words (``no_show``); counted contact that failed."""
        us, sets = self.units, self.sets
        sentence = [i for i in sentence if not us[i].wish]  # 建议可以预约…白天不在家: a wish, not a breach
        promise = next((i for i in sentence if us[i].word in sets["promise"] and not us[i].negated), None)
        if promise is not None and any(
            self.not_done(i) or us[i].word == "才" for i in sentence if i > promise
        ):
            self.add("broken_promise", "broken_promise")
        kept = set(sentence)
        for i in sentence:
            # 三天了没有人回复, 一周没更新
            since = (
                _SINCE.search(us[i].word)
                and i + 1 in kept
                and (us[i + 1].word == "了" or us[i + 1].word in self.negators)
            )
            if (us[i].word in sets["persist"] or since) and any(
                self.not_done(k) for k in range(i + 1, i + 5) if k in kept
            ):
                self.add("no_show", "no_show")
        counted = [i for i in sentence if _COUNT.search(us[i].word)]
        contact = [i for i in sentence if us[i].word in sets["contact"] and not us[i].negated]
        if not counted or not contact:
            return
        first = min(counted + contact)
        failed = any(self.unanswered(i) for i in sentence if i > first)
        if failed:
            self.add("repeated_contact", "repeated_contact")
        elif any(us[i].word in sets["contact_alone"] for i in contact):
            self.add("repeated_contact", "repeated_contact", 2 / 3)  # chased, answered or not: −1

    # praise told as facts ---------------------------------------------------------------

    def helped(self, sentence: list[int]) -> None:
        """Staff who helped (``helpful:帮忙``) and gifts (还送了)."""
        us, sets = self.units, self.sets
        staff = next((i for i in sentence if us[i].word.endswith(_staff())), None)
        for i in sentence:
            u = us[i]
            if u.negated or u.wish:
                continue
            if staff is not None and i > staff and u.word in sets["help"]:
                self.add("helpful", f"helpful:{u.word}")
            before = us[i - 1] if i and us[i - 1].clause == u.clause else None
            if u.word in sets["gift"] and before is not None and before.word in sets["gift_before"]:
                self.add("gift", f"gift:{before.word}{u.word}")

    def durable(self, sentence: list[int]) -> None:
        """No fault after long or repeated use: 用了五年从来没坏过, 洗了十几次都没掉色."""
        us = self.units
        used = next((i for i in sentence if _LONG_USE.search(us[i].word)), None)
        if used is None:
            return
        if any(us[i].negated and self._bad_word(us[i].word) for i in sentence if i > used):
            self.add("durable", "durable")

    def quoted(self) -> None:
        """A praise word in quotes is sarcasm (真是“好”服务)."""
        us, quotes = self.units, self.sets["quote"]
        for i in range(1, len(us) - 1):
            praise = us[i].word == "好" or us[i].word in self.positive
            if praise and us[i - 1].word in quotes and us[i + 1].word in quotes:
                self.add("sarcasm", f"sarcasm:“{us[i].word}”")

    def over_text(self) -> None:
        view = self.view
        for kind, pattern in (
            ("waiting", _WAITING),
            ("overcharge", _OVERCHARGE),
            ("wrong_item", _RECEIVED),
            ("sarcasm", _SARCASM),
            ("remedy", _REMEDY),
            ("durable", _DURABLE),
        ):
            found = pattern.search(view)
            if found and kind == "waiting" and self.no_wait(found.group(0)):
                continue
            if found:
                plain = kind in ("overcharge", "remedy", "durable")
                self.add(kind, kind if plain else f"{kind}:{found.group(0)}")
        if _SHORT_OF_CLAIM.search(self.text):
            self.add("short_of_claim", "short_of_claim")
        ordered = _ORDERED_ELSE.search(view)
        if ordered and ordered.group("a") != ordered.group("b"):
            self.add("wrong_item", "wrong_item")

    def no_wait(self, found: str) -> bool:
        """A wait that is none: a question how long (要等几个工作日才能到账？) or something
        that lasts (一个月了还没吃腻)."""
        return "几" in found and self.asks() or bool(_LASTS.search(self.text))

    def asks(self) -> bool:
        """The comment is a question (？ at its end, 吗 before it, or 请问)."""
        text = self.text.rstrip()
        return text.endswith(("?", "？", "吗")) or bool(_POLITE.search(text))

    def find(self) -> tuple[float, tuple[str, ...]]:
        self.faults()
        self.after_time()
        self.quoted()
        self.over_text()
        for sentence in self.sentences().values():
            self.broken(sentence)
            self.helped(sentence)
            self.durable(sentence)
        return self.total()

    def total(self) -> tuple[float, tuple[str, ...]]:
        text = self.text.rstrip()
        question = text.endswith(("?", "？")) or bool(_POLITE.search(text))
        wish = any(u.wish for u in self.units)
        found = {d: w for d, w in self.found.items() if w < 0 or not (question or wish)}
        negative = sum(w for w in found.values() if w < 0)
        if question:  # one problem named; a listed negative word (多扣) names it already
            named = any(u.word in self.negative and not u.negated for u in self.units)
            negative = 0.0 if named else max(negative, -1.0)
        score = negative + sum(w for w in found.values() if w > 0)
        return round(score, 3), tuple(found)


def find(tokens, text: str, positive, negative, negators) -> tuple[float, tuple[str, ...]]:
    """The score of the facts ``tokens`` tell and their drivers (``text``: the comment,
    normalised and lower-cased)."""
    return Facts(tokens, text, positive, negative, negators).find()
