"""Follow-up (回访) pure parts: the policy (validation naming the field, matching), the due
time in business hours, the signed survey links, the answer classes and the metrics."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from services.cases import followup, metrics
from services.cases.business_calendar import always_open
from services.cases.sla import calendar_of
from services.common import survey_links as links
from services.common.errors import BadRequest

pytestmark = pytest.mark.unit

SLA = yaml.safe_load((Path(__file__).resolve().parents[2] / "samples" / "sla.yaml").read_text("utf-8"))
OFFICE = next(c for c in SLA["calendars"] if c["id"] == "shanghai-office")
SHANGHAI = timedelta(hours=8)

POLICY = {
    "id": "default",
    "rules": [
        {
            "name": "vip-defects",
            "match": {"tiers": ["vip"], "root_causes": ["product_defect"]},
            "by": "owner",
            "channels": ["sms"],
        },
        {
            "name": "urgent",
            "match": {"levels": ["P1", "P2"]},
            "by": "automatic",
            "channels": ["sms", "email"],
        },
        {"name": "rest", "by": "team", "team": "care-followup", "channels": ["email"], "survey": "nps"},
    ],
}


def case(level="P3", tier="standard", root_cause="delivery_delay", nps=2, **extra):
    return {
        "_id": "CASE-1",
        "level": level,
        "status": "resolved",
        "customer": {"id": "C1", "tier": tier},
        "resolution": {"root_cause": root_cause},
        "event": {"scores": {"nps": nps}},
        "assignee": {"kind": "person", "id": "li.na"},
        "opened_at": datetime(2026, 11, 19, 8, 0, 0, 123456, tzinfo=UTC),
        **extra,
    }


def errors_of(document, calendars=()):
    with pytest.raises(BadRequest) as info:
        followup.load_policy(document, list(calendars))
    return info.value.errors


def test_policy_defaults_and_first_matching_rule():
    policy = followup.load_policy(POLICY)
    assert policy["rules"][1]["after_business_hours"] == 24.0 and policy["rules"][1]["survey"] == "csat"
    assert followup.match(policy, case(tier="vip", root_cause="product_defect"))["name"] == "vip-defects"
    assert followup.match(policy, case(level="P2", tier="vip"))["name"] == "urgent"
    assert followup.match(policy, case(level="P4"))["name"] == "rest"
    narrow = {"id": "default", "rules": [POLICY["rules"][1]]}
    assert followup.match(followup.load_policy(narrow), case(level="P4")) is None
    assert followup.match(None, case()) is None


@pytest.mark.parametrize(
    "rule,expected",
    [
        ({"name": "a", "by": "robot", "channels": ["sms"]}, "rules.0.by: Must be one of"),
        ({"name": "a", "by": "team", "channels": ["sms"]}, "rules.0.team: by: team needs the team"),
        ({"name": "a", "by": "owner", "channels": ["fax"]}, "rules.0.channels.0: Must be one of"),
        ({"name": "a", "by": "owner", "channels": []}, "rules.0.channels: Length must be between"),
        (
            {"name": "a", "by": "owner", "channels": ["sms", "sms"]},
            "rules.0.channels: a channel is listed twice",
        ),
        (
            {"name": "a", "by": "owner", "channels": ["sms"], "survey": "ces"},
            "rules.0.survey: Must be one of",
        ),
        (
            {"name": "a", "by": "owner", "channels": ["sms"], "match": {"levels": ["P9"]}},
            "rules.0.match.levels.0",
        ),
        (
            {"name": "a", "by": "owner", "channels": ["sms"], "match": {"root_causes": ["gremlins"]}},
            "rules.0.match.root_causes.0: unknown root cause 'gremlins'",
        ),
        (
            {"name": "a", "by": "owner", "channels": ["sms"], "after_business_hours": -1},
            "rules.0.after_business_hours",
        ),
        (
            {"name": "a", "by": "owner", "channels": ["sms"], "colour": "red"},
            "rules.0.colour: Unknown field.",
        ),
    ],
)
def test_invalid_policy_names_the_field(rule, expected):
    [line] = errors_of({"rules": [rule]})
    assert line.startswith(expected), line


def test_unknown_calendar_and_duplicate_names_are_refused():
    rule = {"name": "a", "by": "owner", "channels": ["sms"], "calendar": "mars-office"}
    [line] = errors_of({"rules": [rule]}, ["shanghai-office"])
    assert line.startswith("rules.0.calendar: unknown calendar 'mars-office'")
    assert followup.load_policy({"rules": [{**rule, "calendar": "shanghai-office"}]}, ["shanghai-office"])
    [line] = errors_of({"rules": [{**rule, "calendar": None}, {**rule, "calendar": None}]})
    assert line == "rules.1.name: rule name 'a' is used twice"
    assert errors_of(["not", "a", "policy"]) == [
        "_schema: a follow-up policy is {id, rules: [{name, match, by, ...}]}"
    ]


def test_due_time_counts_business_hours_over_the_weekend():
    policy = followup.load_policy(POLICY)
    rule = {**policy["rules"][1], "calendar": "shanghai-office"}
    cal = followup.calendar_for(rule, case(), SLA)
    assert cal.id == "shanghai-office"
    # Friday 2026-11-20 17:00 in Shanghai: 1 h left that day, then 7.5 h a day (Mon, Tue, Wed),
    # the last half hour on Thursday morning
    resolved = datetime(2026, 11, 20, 17, 0, tzinfo=UTC) - SHANGHAI
    due = followup.due_at(rule, cal, resolved)
    assert due == datetime(2026, 11, 26, 9, 30, tzinfo=UTC) - SHANGHAI
    # the same rule on 24x7 is a day later, on the case's SLA snapshot when it names none
    assert followup.due_at(rule, always_open(), resolved) == resolved + timedelta(hours=24)
    snap = {"sla": {"policy": {"calendar": OFFICE}}}
    assert followup.calendar_for({**rule, "calendar": None}, case(**snap), None).id == "shanghai-office"
    assert followup.calendar_for({**rule, "calendar": None}, case(), None).id == "24x7"


def test_due_time_skips_the_national_day_holiday():
    rule = {**followup.load_policy(POLICY)["rules"][1], "after_business_hours": 1}
    resolved = datetime(2026, 9, 30, 17, 30, tzinfo=UTC) - SHANGHAI  # 30 min left on Sept 30
    due = followup.due_at(rule, calendar_of(OFFICE), resolved)
    # Oct 1-7 are statutory holidays in 2026; 2026-10-08 (Thursday) works again
    assert due.astimezone(UTC) + SHANGHAI == datetime(2026, 10, 8, 9, 30, tzinfo=UTC)


def test_new_followup_and_what_a_due_one_does():
    policy = followup.load_policy(POLICY)
    resolved = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
    auto = followup.new_followup(case(level="P2"), policy["rules"][1], policy, 3, always_open(), resolved)
    assert auto["_id"] == "CASE-1:fu0" and auto["state"] == "pending" and auto["detractor"] is True
    assert auto["due_epoch"] == (resolved + timedelta(hours=24)).timestamp()
    assert auto["deadline_epoch"] == (resolved + timedelta(hours=32)).timestamp()
    assert auto["policy"] == {"id": "default", "version": 3, "rule": "urgent"}
    assert auto["case_opened_ms"] == 1_795_075_200_123  # the case's period for the metrics, as stored
    now = resolved + timedelta(hours=25)
    assert isinstance(followup.decide(auto, case(), now, always_open()), followup.Send)
    assert followup.decide(auto, case(status="reopened"), now, always_open()) == followup.Cancel(
        "the case is reopened now"
    )
    assert followup.decide(auto, None, now, always_open()) == followup.Cancel("the case no longer exists")
    again = followup.decide(auto, case(reopen_count=1), now, always_open())  # reopened, resolved again
    assert again == followup.Cancel("the case was reopened since; its new resolution has its own follow-up")
    team = followup.new_followup(case(), policy["rules"][2], policy, 3, always_open(), resolved)
    task = followup.decide(team, case(), now, always_open())
    assert task.assignee == {"kind": "team", "id": "care-followup"} and task.due == now + timedelta(hours=8)
    owner = followup.new_followup(case(), policy["rules"][0], policy, 3, always_open(), resolved)
    assert followup.decide(owner, case(), now, always_open()).assignee == {"kind": "person", "id": "li.na"}
    assert followup.followup_id(case(reopen_count=2)) == "CASE-1:fu2"


@pytest.mark.parametrize(
    "scale,score,expected",
    [
        ("csat", 5, "satisfied"), ("csat", 4, "satisfied"), ("csat", 3, "passive"), ("csat", 2, "unhappy"),
        ("csat", 1, "unhappy"), ("nps", 10, "satisfied"), ("nps", 9, "satisfied"), ("nps", 8, "passive"),
        ("nps", 7, "passive"), ("nps", 6, "unhappy"), ("nps", 0, "unhappy"),
    ],
)  # fmt: skip
def test_answer_classes(scale, score, expected):
    assert followup.classify(scale, score) == expected


@pytest.mark.parametrize("scale,score", [("csat", 0), ("csat", 6), ("nps", 11), ("nps", -1), ("csat", True)])
def test_answers_out_of_range_are_refused(scale, score):
    with pytest.raises(ValueError, match="score: "):
        followup.classify(scale, score)


CLAIMS = links.SurveyClaims("CASE-1", "C1", 2_000_000_000, "nonce-1", "csat", "en")


def test_survey_token_round_trip_and_expiry():
    token = links.sign("s3cret", CLAIMS)
    assert links.verify("s3cret", token, 1_999_999_999) == CLAIMS
    with pytest.raises(links.SurveyTokenError) as info:
        links.verify("s3cret", token, 2_000_000_000)
    assert info.value.reason == "expired" and info.value.claims == CLAIMS


def test_forged_and_malformed_tokens_are_refused():
    token = links.sign("s3cret", CLAIMS)
    payload, signature = token.split(".")
    other = links.sign("s3cret", links.SurveyClaims("CASE-2", "C1", 2_000_000_000, "nonce-1", "csat", "en"))
    cases = {
        "forged": [
            links.sign("another", CLAIMS),  # signed with another secret
            f"{other.split('.')[0]}.{signature}",  # another case under this signature
            f"{payload}.{signature[:-2]}AA",
        ],
        "malformed": ["", "no-dot", "a.b.c", "x" * 2000],
    }
    for reason, tokens in cases.items():
        for bad in tokens:
            with pytest.raises(links.SurveyTokenError) as info:
                links.verify("s3cret", bad, 0)
            assert info.value.reason == reason, bad
    with pytest.raises(ValueError, match="SURVEY_SECRET is not configured"):
        links.sign("", CLAIMS)


def test_reply_code_is_short_stable_and_unambiguous():
    code = links.reply_code("s3cret", "nonce-1")
    assert code == links.reply_code("s3cret", "nonce-1") != links.reply_code("s3cret", "nonce-2")
    assert len(code) == 8 and not set(code) & set("01OIL")


def fu_row(state="answered", scale="csat", score=5, detractor=True, done_at=None, deadline=100.0, task=True):
    answer = None
    if score is not None:
        answer = {"scale": scale, "score": score, "classification": followup.classify(scale, score)}
    return {
        "case_id": "CASE-1",
        "state": state,
        "answer": answer,
        "detractor": detractor,
        "deadline_epoch": deadline,
        "task": {"done_at": done_at} if task else None,
        "message": None,
    }


def test_followup_metrics():
    at = datetime.fromtimestamp
    now = at(200.0, UTC)
    rows = [
        fu_row(score=5, done_at=at(50.0, UTC)),  # on time
        fu_row(score=3, done_at=at(150.0, UTC)),  # passive: recovered, late
        fu_row(score=1, detractor=False, done_at=at(90.0, UTC)),
        fu_row(scale="nps", score=10, detractor=False, done_at=at(90.0, UTC)),
        fu_row(scale="nps", score=4, done_at=at(90.0, UTC)),  # a detractor still unhappy
        fu_row(state="task", score=None),  # open and past its deadline: late
        fu_row(state="cancelled", score=None),
    ]
    figures = metrics.followup_summary(metrics.followup_facts(r, now) for r in rows)
    assert figures["followups"] == 6 and figures["followups_answered"] == 5
    assert figures["post_resolution_csat"] == pytest.approx(3.0)
    assert figures["post_resolution_nps"] == pytest.approx(0.0)  # one promoter, one detractor
    assert figures["recovery_rate"] == pytest.approx(2 / 3)
    assert figures["followup_on_time_rate"] == pytest.approx(4 / 6)
    assert metrics.followup_summary([])["recovery_rate"] is None


def test_a_verified_case_gives_its_topic_up():
    from services.cases.stores.cases import key_state

    # a new alert on the customer's topic then opens a new case instead of reopening
    assert key_state("verified") == key_state("closed") == "closed"
    assert key_state("resolved") == "resolved"


def test_the_sample_policy_is_valid_and_matches_as_documented():
    sample = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "samples" / "followup.yaml").read_text("utf-8")
    )
    policy = followup.load_policy(sample, [c["id"] for c in SLA["calendars"]])
    assert followup.match(policy, case(level="P1"))["by"] == "owner"
    assert followup.match(policy, case(root_cause="product_defect"))["team"] == "care-followup"
    assert followup.match(policy, case())["by"] == "automatic"


def test_every_follow_up_code_the_case_page_shows_is_translated():
    from contracts.messages import CUSTOMER_MESSAGE_REFUSALS, CUSTOMER_MESSAGE_STATUSES
    from services.gateway.i18n import CATALOGUE

    codes = {
        "followup.state.": ("pending", "claimed", "sent", "task", "answered", "done", "cancelled"),
        "followup.mode.": followup.MODES,
        "followup.class.": followup.CLASSES,
        "followup.message.": (*CUSTOMER_MESSAGE_STATUSES, "requested"),
        "followup.reason.": CUSTOMER_MESSAGE_REFUSALS,
    }
    missing = [prefix + c for prefix, values in codes.items() for c in values if prefix + c not in CATALOGUE]
    assert missing == []
