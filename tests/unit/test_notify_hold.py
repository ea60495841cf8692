"""The hold stage: a message in quiet hours waits for their end unless its level is urgent."""

from datetime import UTC, datetime

from services.notify.stages.hold import Hold, QuietHours

QUIET = {"start": "22:00", "end": "08:00"}
LATE = datetime(2026, 11, 20, 15, 0, tzinfo=UTC).timestamp()  # 23:00 in Shanghai
NOON = datetime(2026, 11, 20, 4, 0, tzinfo=UTC).timestamp()  # 12:00 in Shanghai
MORNING = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai


def test_a_message_in_quiet_hours_is_held_until_they_end():
    hold = QuietHours(("P1",)).hold("P3", {"quiet_hours": QUIET, "timezone": "Asia/Shanghai"}, LATE)
    assert hold == Hold(release=MORNING, bypass=None)


def test_an_urgent_level_bypasses_quiet_hours_and_says_why():
    hold = QuietHours(("P1", "P2")).hold("P2", {"quiet_hours": QUIET}, LATE)
    assert hold.release is None
    assert hold.bypass == "level P2 is urgent (NOTIFY_URGENT_LEVELS) and bypasses quiet hours"


def test_outside_quiet_hours_or_without_them_nothing_is_held_nor_bypassed():
    stage = QuietHours(("P1",))
    assert stage.hold("P1", {"quiet_hours": QUIET}, NOON) == Hold()  # urgent, but nothing to bypass
    assert stage.hold("P3", {"quiet_hours": QUIET}, NOON) == Hold()
    assert stage.hold("P3", {}, LATE) == Hold()


def test_quiet_hours_are_read_in_the_recipients_zone_defaulting_to_shanghai():
    stage = QuietHours(())
    london = {"quiet_hours": QUIET, "timezone": "Europe/London"}
    assert stage.hold("P3", london, LATE).release is None  # 15:00 in London
    at_london_night = datetime(2026, 11, 20, 23, 0, tzinfo=UTC).timestamp()
    assert stage.hold("P3", london, at_london_night).release == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert stage.hold("P3", {"quiet_hours": QUIET, "timezone": None}, LATE).release == MORNING
