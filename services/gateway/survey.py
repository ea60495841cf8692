"""The public follow-up survey (回访): one question, no login.

``GET /survey/<token>`` shows the question (CSAT 1-5 or NPS 0-10, in the token's
language unless ``?lang=`` asks for the other); ``POST /survey/<token>`` takes the
answer; ``GET /survey?code=…`` turns a reply code into the link (cases RPC
``survey_for_code``). The token is checked here (``services/common/survey_links.py``,
HMAC with ``SURVEY_SECRET``): forged or malformed → 400, expired → 410, answered
already → 409, each a page that says so in the customer's language.

Single use: the answer first claims the token's nonce in ``survey_answers`` (the
nonce is the ``_id``: one insert, the unique index decides between two submissions),
then publishes the answer as a feedback event carrying ``case_id`` on
``feedback.web.followup`` (profiles and alerts see it like any feedback; the cases
service binds that key only). A publish that fails gives the claim back, so the
customer can try again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import quote

from werkzeug.wrappers import Response

from contracts.base import utcnow
from services.common import settings
from services.common import survey_links as links
from services.gateway.errors import Redirect
from services.gateway.i18n import LANGUAGES, translator
from services.gateway.views import env

log = logging.getLogger(__name__)
CHANNEL = "web"
SOURCE = "followup-survey"
STATUS_OF = {"malformed": 400, "forged": 400, "expired": 410, "used": 409}


def language(claims: links.SurveyClaims | None, asked: str | None) -> str:
    if asked in LANGUAGES:
        return str(asked)
    if claims is not None and claims.language in LANGUAGES:
        return claims.language
    return "zh-CN"


def page(template: str, lang: str, status: int = 200, **context) -> Response:
    html = env.get_template(template).render(t=translator(lang), lang=lang, languages=LANGUAGES, **context)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def refusal(reason: str, lang: str) -> Response:
    """The page for a link that cannot be used, with its 4xx status."""
    return page("survey_refused.html", lang, STATUS_OF[reason], reason=reason)


def check(token: str, asked_lang: str | None) -> tuple[links.SurveyClaims | None, str, Response | None]:
    """(claims, language, None) for a usable token, else (…, the refusal page)."""
    try:
        claims = links.verify(settings.get("SURVEY_SECRET"), token, utcnow().timestamp())
    except links.SurveyTokenError as exc:
        lang = language(exc.claims, asked_lang)
        return None, lang, refusal(exc.reason, lang)
    except ValueError:  # no SURVEY_SECRET configured here: no link can be checked
        log.error("SURVEY_SECRET is not set: survey links cannot be checked")
        lang = language(None, asked_lang)
        return None, lang, page("survey_refused.html", lang, 503, reason="unavailable")
    return claims, language(claims, asked_lang), None


def form(store, token: str, asked_lang: str | None) -> Response:
    """The question, or why it cannot be answered."""
    claims, lang, refused = check(token, asked_lang)
    if refused is not None or claims is None:
        return refused  # type: ignore[return-value]
    if store.survey_answered(claims.nonce):
        return refusal("used", lang)
    return question(token, claims, lang)


def question(
    token: str, claims: links.SurveyClaims, lang: str, status: int = 200, error: str = ""
) -> Response:
    low, high = links.SCALE_RANGES[claims.scale]
    return page(
        "survey.html", lang, status, token=token, scale=claims.scale, choices=range(low, high + 1),
        action=f"/survey/{quote(token, safe='')}", error=error,
    )  # fmt: skip


def score_of(value, scale: str) -> int | None:
    low, high = links.SCALE_RANGES[scale]
    try:
        score = int(str(value).strip())
    except ValueError:
        return None
    return score if low <= score <= high else None


def answer(store, publish, token: str, form_data) -> Response:
    """Take the answer once: claim the nonce, publish the feedback event, thank."""
    claims, lang, refused = check(token, form_data.get("lang"))
    if refused is not None or claims is None:
        return refused  # type: ignore[return-value]
    score = score_of(form_data.get("score", ""), claims.scale)
    if score is None:
        low, high = links.SCALE_RANGES[claims.scale]
        return question(token, claims, lang, 400, error=f"score: {low}-{high}")
    now = utcnow()
    if not store.claim_survey(claims.nonce, claims.case_id, now):
        return refusal("used", lang)
    try:
        publish(feedback_event(claims, score, now), CHANNEL)
    except Exception:
        store.release_survey(claims.nonce)
        log.exception("publishing the survey answer for case %s failed", claims.case_id)
        return page("survey_refused.html", lang, 503, reason="unavailable")
    store.survey_published(claims.nonce)
    return page("survey_thanks.html", lang, 200)


def feedback_event(
    claims: links.SurveyClaims, score: int, now: datetime, channel: str = CHANNEL, text: str | None = None
) -> dict:
    """The answer as a feedback event v1 (the public contract), with the case it answers.
    The event id is the survey's: answered on the page or by SMS, it is one answer."""
    event = {
        "schema_version": 1,
        "event_id": f"followup-{claims.nonce}",
        "source": SOURCE,
        "occurred_at": now.astimezone(UTC).isoformat(),
        "customer": {"id": claims.customer_id},
        "channel": channel,
        "touchpoint": "followup",
        "scores": {claims.scale: score},
        "tags": ["followup"],
        "case_id": claims.case_id,
        "attributes": {"followup_nonce": claims.nonce, "survey": claims.scale, "answered_by": channel},
    }
    if text:
        event["text"] = text
    return event


def by_code(services, code: str | None, asked_lang: str | None) -> Response:
    """The reply-code form, or a redirect to the code's survey link."""
    lang = language(None, asked_lang)
    if not code:
        return page("survey_code.html", lang, 200, error="")
    try:
        found = services.cases.survey_for_code(code.strip())
    except Exception as exc:  # an unknown code is a NotFound from the cases service
        if getattr(exc, "exc_type", "") not in ("NotFound", "BadRequest"):
            raise
        return page("survey_code.html", lang, 404, error="survey.unknown_code")
    raise Redirect(f"/survey/{quote(found['token'], safe='')}?lang={quote(lang)}")
