"""Whether, when and where a customer message may go: expiry, erasure, opt-out, contact
fatigue and quiet hours in the customer's own time zone (services/notify/customers/decision.py)."""

from datetime import UTC, datetime

import pytest

from services.notify.customers.decision import (
    DEFER,
    FAIL,
    REFUSE,
    SEND,
    Consent,
    Contact,
    Decision,
    Rules,
    decide,
    parse_quiet_hours,
)

QUIET = {"start": "21:00", "end": "09:00"}
RULES = Rules(fatigue_limit=3, fatigue_days=7, quiet_hours=QUIET, default_timezone="Asia/Shanghai")
NOON_SHANGHAI = datetime(2026, 12, 1, 4, 0, tzinfo=UTC).timestamp()  # 12:00 in Shanghai
REACHABLE = Contact("C1", addresses={"sms": "13800138000", "email": "c1@example.com"})


def request(**extra) -> dict:
    # as cases asks for a follow-up survey (services/cases/followups.py survey_message)
    return {
        "message_id": "fu-1:survey",
        "purpose": "followup_survey",
        "customer_id": "C1",
        "channels": ["sms", "email"],
        "case_id": "CASE-1",
        "language": "zh-CN",
        "not_after": None,
        "context": {"survey_url": "https://cx.example/survey/t", "reply_code": "482913"},
        **extra,
    }


def at(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def test_a_reachable_customer_outside_quiet_hours_gets_the_first_channel_of_the_preference():
    assert decide(request(), REACHABLE, Consent(), 0, RULES, NOON_SHANGHAI) == Decision(SEND, channel="sms")


def test_an_overall_opt_out_refuses_every_channel():
    d = decide(request(), REACHABLE, Consent(all=True), 0, RULES, NOON_SHANGHAI)
    assert (d.action, d.reason) == (REFUSE, "opted_out")


def test_an_opt_out_of_one_channel_takes_the_next_one_and_of_all_listed_refuses():
    d = decide(request(), REACHABLE, Consent(channels=frozenset({"sms"})), 0, RULES, NOON_SHANGHAI)
    assert (d.action, d.channel) == (SEND, "email")
    d = decide(request(), REACHABLE, Consent(channels=frozenset({"sms", "email"})), 0, RULES, NOON_SHANGHAI)
    assert (d.action, d.reason) == (REFUSE, "opted_out")
    assert "sms, email" in (d.detail or "")


def test_no_address_on_the_requested_channels_is_no_contact_and_an_erased_customer_is_never_contacted():
    d = decide(request(channels=["wechat_oa"]), REACHABLE, Consent(), 0, RULES, NOON_SHANGHAI)
    assert (d.action, d.reason) == (REFUSE, "no_contact")
    erased = Contact("C1", erased=True)
    assert decide(request(), erased, Consent(), 0, RULES, NOON_SHANGHAI).reason == "no_contact"
    # notify's own erasure mark holds even if the profile still had an address
    assert decide(request(), REACHABLE, Consent(erased=True), 0, RULES, NOON_SHANGHAI).reason == "no_contact"


def test_contact_fatigue_counts_feedback_given_and_messages_sent_against_the_limit():
    tired = Contact("C1", addresses=REACHABLE.addresses, recent_feedback=2)
    assert decide(request(), tired, Consent(), 0, RULES, NOON_SHANGHAI).action == SEND
    d = decide(request(), tired, Consent(), 1, RULES, NOON_SHANGHAI)
    assert (d.action, d.reason) == (REFUSE, "fatigued")
    assert d.detail == "3 contacts in 7 days (limit 3)"
    unlimited = Rules(fatigue_limit=0, quiet_hours=QUIET)
    assert decide(request(), tired, Consent(), 50, unlimited, NOON_SHANGHAI).action == SEND


def test_quiet_hours_are_the_customers_own_not_the_servers():
    # 12:00 in Shanghai is 23:00 the evening before in New York
    new_yorker = Contact("C1", addresses=REACHABLE.addresses, timezone="America/New_York")
    d = decide(request(), new_yorker, Consent(), 0, RULES, NOON_SHANGHAI)
    assert (d.action, d.channel) == (DEFER, "sms")
    assert d.until == at("2026-12-01T09:00:00-05:00")  # 09:00 in New York, after midnight
    assert "America/New_York" in (d.detail or "")
    # no zone in the profile: the default zone (Shanghai), where it is noon
    assert decide(request(), REACHABLE, Consent(), 0, RULES, NOON_SHANGHAI).action == SEND


@pytest.mark.parametrize(
    ("local", "release"),
    [
        ("2026-12-01T21:00:00+08:00", "2026-12-02T09:00:00+08:00"),  # the start: quiet until tomorrow
        ("2026-12-01T23:59:00+08:00", "2026-12-02T09:00:00+08:00"),  # before midnight
        ("2026-12-02T00:30:00+08:00", "2026-12-02T09:00:00+08:00"),  # after midnight: the same morning
        ("2026-12-02T08:59:00+08:00", "2026-12-02T09:00:00+08:00"),
    ],
)
def test_a_period_across_midnight_releases_at_its_end_on_the_right_day(local, release):
    d = decide(request(), REACHABLE, Consent(), 0, RULES, at(local))
    assert (d.action, d.until) == (DEFER, at(release))


def test_the_end_of_quiet_hours_and_a_same_day_period_go_at_once():
    assert decide(request(), REACHABLE, Consent(), 0, RULES, at("2026-12-02T09:00:00+08:00")).action == SEND
    lunch = Rules(quiet_hours={"start": "12:00", "end": "14:00"})
    d = decide(request(), REACHABLE, Consent(), 0, lunch, at("2026-12-02T13:00:00+08:00"))
    assert (d.action, d.until) == (DEFER, at("2026-12-02T14:00:00+08:00"))
    assert decide(request(), REACHABLE, Consent(), 0, lunch, at("2026-12-02T14:30:00+08:00")).action == SEND


def test_quiet_hours_ending_after_not_after_refuse_and_a_passed_not_after_is_expired():
    late = at("2026-12-01T23:00:00+08:00")
    soon = datetime.fromtimestamp(late + 3600, UTC)  # 00:00, before the 09:00 release
    d = decide(request(not_after=soon), REACHABLE, Consent(), 0, RULES, late)
    assert (d.action, d.reason) == (REFUSE, "quiet_hours_expired")
    later = datetime.fromtimestamp(late + 12 * 3600, UTC)  # 11:00 the next day: wait for 09:00
    assert decide(request(not_after=later), REACHABLE, Consent(), 0, RULES, late).action == DEFER
    past = datetime.fromtimestamp(NOON_SHANGHAI - 1, UTC).isoformat()  # as stored: ISO text works too
    d = decide(request(not_after=past), REACHABLE, Consent(), 0, RULES, NOON_SHANGHAI)
    assert (d.action, d.reason) == (REFUSE, "expired")


def test_expiry_is_checked_before_an_opt_out_and_an_opt_out_before_fatigue():
    past = datetime.fromtimestamp(NOON_SHANGHAI - 1, UTC)
    assert (
        decide(request(not_after=past), REACHABLE, Consent(all=True), 0, RULES, NOON_SHANGHAI).reason
        == "expired"
    )
    tired = Contact("C1", addresses=REACHABLE.addresses, recent_feedback=9)
    assert decide(request(), tired, Consent(all=True), 0, RULES, NOON_SHANGHAI).reason == "opted_out"


def test_channels_that_failed_for_good_are_skipped_and_with_none_left_the_message_fails():
    d = decide(request(), REACHABLE, Consent(), 0, RULES, NOON_SHANGHAI, tried=("sms",))
    assert (d.action, d.channel) == (SEND, "email")
    d = decide(request(), REACHABLE, Consent(), 0, RULES, NOON_SHANGHAI, tried=("sms", "email"))
    assert d.action == FAIL


def test_quiet_hours_setting():
    assert parse_quiet_hours("21:00-09:00") == QUIET
    assert parse_quiet_hours(" none ") is None
    with pytest.raises(ValueError, match="CUSTOMER_QUIET_HOURS"):
        parse_quiet_hours("21:00")
    with pytest.raises(ValueError, match="CUSTOMER_QUIET_HOURS"):
        parse_quiet_hours("25:00-09:00")
