"""The survey page's answer path on the real gateway store: the event it publishes, one
answer per link, and a publish that fails giving the claim back (the customer may retry)."""

import time

import pytest
from nameko import config
from werkzeug.datastructures import MultiDict

from contracts.feedback import parse_feedback
from services.common import survey_links as links
from services.gateway import survey
from services.gateway.store import GatewayStore

pytestmark = pytest.mark.store

SECRET = "store-test-secret"


@pytest.fixture
def store(db):
    with config.patch({"SURVEY_SECRET": SECRET}):
        yield GatewayStore(db)


def token(nonce="n1", scale="nps", expires=None):
    expires = expires or int(time.time()) + 3600
    return links.sign(SECRET, links.SurveyClaims("CASE-ABC", "C7", expires, nonce, scale, "en"))


def test_the_answer_is_a_valid_feedback_event_with_its_case_and_taken_once(store):
    published = []
    page = survey.answer(
        store, lambda event, channel: published.append((event, channel)), token(), MultiDict({"score": "8"})
    )
    assert page.status_code == 200 and "Thank you" in page.get_data(as_text=True)
    [(event, channel)] = published
    parsed = parse_feedback(event)  # the public contract, as alerts and profiles read it
    assert channel == "web" and parsed["case_id"] == "CASE-ABC" and parsed["scores"] == {"nps": 8}
    assert parsed["customer"] == {"id": "C7"} and parsed["attributes"]["followup_nonce"] == "n1"
    again = survey.answer(store, lambda *_: published.append("again"), token(), MultiDict({"score": "9"}))
    assert again.status_code == 409 and len(published) == 1
    assert survey.form(store, token(), None).status_code == 409


def test_a_failed_publish_gives_the_claim_back(store):
    def broken(event, channel):
        raise ConnectionError("broker away")

    page = survey.answer(store, broken, token("n2"), MultiDict({"score": "3"}))
    assert page.status_code == 503 and "try again" in page.get_data(as_text=True)
    assert not store.survey_answered("n2")
    published = []
    retry = survey.answer(store, lambda e, c: published.append(e), token("n2"), MultiDict({"score": "3"}))
    assert retry.status_code == 200 and len(published) == 1


def test_refusals_are_pages_with_their_status(store):
    assert survey.form(store, token(expires=int(time.time()) - 1), None).status_code == 410
    forged = links.sign("another-secret", links.SurveyClaims("CASE-ABC", "C7", 2**33, "n3", "csat", "en"))
    assert survey.form(store, forged, "zh-CN").status_code == 400
    bad_score = survey.answer(store, lambda *_: None, token("n4", scale="csat"), MultiDict({"score": "7"}))
    assert bad_score.status_code == 400 and "score: 1-5" in bad_score.get_data(as_text=True)
    assert not store.survey_answered("n4")  # a refused answer takes no claim


def test_without_a_secret_the_page_says_unavailable(store):
    with config.patch({"SURVEY_SECRET": ""}):
        assert survey.form(store, token(), "en").status_code == 503
