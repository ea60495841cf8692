"""A customer's SMS reply to a follow-up survey (回访), read and answered like the survey page.

**Grammar** (after NFKC, so full-width digits and letters count; case does not matter)::

    reply   := [code] answer [comment]
    code    := the survey's 8-character reply code, first, then a space or punctuation
    answer  := a whole number 0-10 (a trailing 分 or "points" is allowed)
             | 非常满意 / 很满意 | 满意 | 一般 | 不满意 | 很不满意 / 非常不满意
             | very satisfied | satisfied | neutral / ok | dissatisfied / unsatisfied | very dissatisfied
    comment := whatever follows (kept as the answer's text, up to 500 characters)

So ``9``, ``9 很好``, ``满意``, ``K7M2QX9P 4 送货很快`` all answer. A reply that is only an
unsubscribe word (``T``, ``TD``, ``N``, ``退订``, ``取消``, ``STOP``, ``unsubscribe``; with or
without the code) answers nothing: it opts the customer out of SMS (notify
``set_customer_opt_out``, by ``customer:sms``, with the reply as the reason), as Chinese
carriers expect of every marketing or survey SMS (回T退订). A word is a level, put
on the survey's scale: CSAT 5/4/3/2/1, NPS 10/9/7/3/0. A number outside the survey's
scale (``9`` on CSAT 1-5) cannot be understood.

**Which follow-up.** With a code, the follow-up with that code (cases
``survey_for_code``). Without one, the follow-up surveys notify sent by SMS to the
replying number (``notify.surveys_for_phone``) that still wait for an answer: exactly
one is taken; several cannot be decided, and none is recorded with why (when the
number's latest survey was answered already, the reply is a repeat of it).

**What happens.** As on the survey page: the survey token's nonce is claimed once
(``survey_answers``), then a feedback event with ``case_id`` is published on
``feedback.sms.followup``; a second reply finds the nonce taken and is recorded as a
repeat and ignored. A reply that cannot be understood is never lost: it is kept in
``sms_replies`` with its reason and, when its follow-up is known, becomes a task for the
case's owner (cases ``followup_reply_unreadable``: audited on the case).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass

from contracts.base import utcnow
from services.common import settings
from services.common import survey_links as links
from services.gateway import survey
from services.gateway.vendor_callbacks import InboundSms

log = logging.getLogger(__name__)

CODE = re.compile(r"^([2-9A-HJKMNP-Z]{8})(?:[\s,，.。:：;；!！-]+|$)")
NUMBER = re.compile(r"^(10|[0-9])(?!\d)\s*(?:分|points?\b|pts?\b)?")
# longest first: 不满意 before 满意
WORDS = (
    ("非常不满意", 0), ("很不满意", 0), ("very dissatisfied", 0), ("very unsatisfied", 0),
    ("非常满意", 4), ("很满意", 4), ("very satisfied", 4),
    ("不满意", 1), ("dissatisfied", 1), ("unsatisfied", 1),
    ("满意", 3), ("satisfied", 3),
    ("一般", 2), ("neutral", 2), ("ok", 2),
)  # fmt: skip
LEVEL_SCORES = {"csat": (1, 2, 3, 4, 5), "nps": (0, 3, 7, 9, 10)}
SEPARATORS = " \t\r\n,，.。:：;；!！-~～"
OPT_OUT_WORDS = frozenset({"T", "TD", "N", "退订", "取消", "STOP", "UNSUBSCRIBE", "退订回T", "回T退订"})
MAX_COMMENT = 500


@dataclass(frozen=True)
class Reply:
    code: str | None
    number: int | None = None  # a score as given
    level: int | None = None  # a word's level, 0 (worst) to 4 (best)
    comment: str = ""
    problem: str | None = None  # why it cannot be understood

    def score(self, scale: str) -> tuple[int | None, str | None]:
        """(score on ``scale``, None) or (None, why not)."""
        if self.problem:
            return None, self.problem
        if self.level is not None:
            return LEVEL_SCORES[scale][self.level], None
        low, high = links.SCALE_RANGES[scale]
        if self.number is None or not low <= self.number <= high:
            return None, f"score {self.number} is outside {scale.upper()} {low}-{high}"
        return self.number, None


def parse(text: str) -> Reply:
    """The reply by the grammar above (``problem`` set when it has no answer)."""
    rest = unicodedata.normalize("NFKC", text or "").strip()
    code = None
    found = CODE.match(rest.upper())
    if found:
        code, rest = found[1], rest[found.end() :]
    rest = rest.strip()
    if not rest:
        return Reply(code, problem="no score in the reply" if code else "empty reply")
    number = NUMBER.match(rest)
    if number:
        return Reply(code, number=int(number[1]), comment=_comment(rest[number.end() :]))
    lowered = rest.lower()
    for word, level in WORDS:
        after = lowered[len(word) : len(word) + 1]
        if lowered.startswith(word) and not (word.isascii() and after.isalpha()):
            return Reply(code, level=level, comment=_comment(rest[len(word) :]))
    return Reply(code, comment=_comment(rest), problem="no score or satisfaction word at the start")


def is_opt_out(text: str) -> bool:
    """The reply only asks to hear no more (an unsubscribe word, the code allowed first)."""
    rest = unicodedata.normalize("NFKC", text or "").strip()
    found = CODE.match(rest.upper())
    if found:
        rest = rest[found.end() :]
    return rest.strip(SEPARATORS).upper() in OPT_OUT_WORDS


def _comment(text: str) -> str:
    return text.strip(SEPARATORS)[:MAX_COMMENT]


# taking a reply ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """The follow-up a reply answers (its verified survey claims), or why none."""

    claims: links.SurveyClaims | None
    why: str | None = None


def _not_found(exc: Exception) -> bool:
    return getattr(exc, "exc_type", "") in ("NotFound", "BadRequest")


def _survey(services, code: str, secret: str) -> tuple[dict, links.SurveyClaims] | None:
    """The follow-up a reply code names (cases ``survey_for_code``) and its verified survey
    claims; None for an unknown code or a survey no longer valid."""
    try:
        found = services.cases.survey_for_code(code)
        return found, links.verify(secret, found["token"], utcnow().timestamp())
    except links.SurveyTokenError:
        return None
    except Exception as exc:
        if not _not_found(exc):
            raise
        return None


def find_followup(services, store, reply: Reply, phone: str) -> Found:
    """By the reply's code, else the one survey waiting for the number."""
    secret = settings.get("SURVEY_SECRET")
    if reply.code:
        try:
            token = services.cases.survey_for_code(reply.code)["token"]
        except Exception as exc:
            if not _not_found(exc):
                raise
            return Found(None, f"unknown reply code {reply.code}")
        try:
            return Found(links.verify(secret, token, utcnow().timestamp()))
        except links.SurveyTokenError as exc:
            return Found(None, f"the survey {exc.reason}")
    waiting: list[links.SurveyClaims] = []
    answered: list[links.SurveyClaims] = []
    for survey_ref in services.notify.surveys_for_phone(phone):
        verified = _survey(services, survey_ref["reply_code"], secret)
        if verified is None:
            continue
        found, claims = verified
        if found["state"] in ("sent", "task") and not store.survey_answered(claims.nonce):
            waiting.append(claims)
        elif found["state"] == "answered" and not answered:
            answered.append(claims)  # the newest: a second reply to it is a repeat
    if len(waiting) == 1:
        return Found(waiting[0])
    if not waiting:
        return Found(answered[0]) if answered else Found(None, "no follow-up survey waits for this number")
    return Found(None, f"{len(waiting)} follow-up surveys wait for this number; no reply code given")


def take(services, store, publish, sms: InboundSms) -> str:
    """Record and answer one inbound SMS; returns its outcome (``answered``, ``repeated``,
    ``duplicate``, ``unreadable``, ``unmatched``). A failure to publish raises (the vendor
    pushes again: the reply is not lost) after giving the claim back."""
    if not store.keep_sms_reply(sms):  # settled before: the vendor pushed it again
        return "repeated"
    if is_opt_out(sms.text):
        return opt_out(services, store, sms)
    reply = parse(sms.text)
    found = find_followup(services, store, reply, sms.phone)
    claims = found.claims
    if claims is None:
        log.warning("SMS reply %s matches no follow-up: %s", sms.key, found.why)
        store.settle_sms_reply(sms.key, "unmatched", found.why, None)
        return "unmatched"
    score, problem = reply.score(claims.scale)
    if score is None:
        request = {"case_id": claims.case_id, "text": sms.text[:500], "reason": problem or "", "via": "sms"}
        services.cases.followup_reply_unreadable(request)
        store.settle_sms_reply(sms.key, "unreadable", problem, claims.case_id, claims.customer_id)
        return "unreadable"
    now = utcnow()
    if not store.claim_survey(claims.nonce, claims.case_id, now):
        why = "the survey was answered already"
        store.settle_sms_reply(sms.key, "duplicate", why, claims.case_id, claims.customer_id)
        return "duplicate"
    try:
        event = survey.feedback_event(claims, score, now, channel="sms", text=reply.comment or None)
        publish(event, "sms")
    except Exception:
        store.release_survey(claims.nonce)  # the reply stays unsettled: taken again when pushed again
        raise
    store.survey_published(claims.nonce)
    store.settle_sms_reply(sms.key, "answered", None, claims.case_id, claims.customer_id)
    return "answered"


def customers_of(services, reply: Reply, phone: str) -> set[tuple[str, str]]:
    """(customer id, case id) of the surveys this reply can be about: the code's, else every
    survey sent to the number that may still be answered (answered ones too)."""
    secret = settings.get("SURVEY_SECRET")
    sent = [] if reply.code else services.notify.surveys_for_phone(phone)
    codes = [reply.code] if reply.code else [survey_ref["reply_code"] for survey_ref in sent]
    verified = (_survey(services, code, secret) for code in codes)
    return {(claims.customer_id, claims.case_id) for _found, claims in filter(None, verified)}


def opt_out(services, store, sms: InboundSms) -> str:
    """An unsubscribe reply: the customer it came from opts out of SMS; ``opted_out``, or
    ``unmatched`` (kept, with why) when no survey tells whose number it is."""
    reply = parse(sms.text)
    found = customers_of(services, Reply(reply.code), sms.phone)
    customers = {customer for customer, _case in found}
    if len(customers) != 1:
        why = (
            "an unsubscribe reply from a number no survey was sent to"
            if not customers
            else (f"an unsubscribe reply from a number surveyed for {len(customers)} customers")
        )
        log.warning("SMS reply %s: %s", sms.key, why)
        store.settle_sms_reply(sms.key, "unmatched", why, None)
        return "unmatched"
    (customer_id,) = customers
    reason = f"SMS reply {sms.text.strip()[:40]!r} to a follow-up survey"
    services.notify.set_customer_opt_out(customer_id, "sms", True, "customer:sms", reason)
    case_id = sorted(case for _customer, case in found)[-1]
    store.settle_sms_reply(sms.key, "opted_out", None, case_id, customer_id)
    return "opted_out"
