"""The plan stage: one delivery per recipient × channel, keyed for idempotency, due
now or held for quiet hours; a team with a robot on a channel gets one message there."""

from datetime import UTC, datetime

from services.notify.directory import load_directory
from services.notify.stages.hold import QuietHours
from services.notify.stages.plan import Plan, delivery_key
from services.notify.store import Recipients

LATE = datetime(2026, 11, 20, 15, 0, tzinfo=UTC).timestamp()  # 23:00 in Shanghai
MORNING = datetime(2026, 11, 21, 0, 0, tzinfo=UTC).timestamp()  # 08:00 in Shanghai
ROBOT = {"webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}

DIRECTORY = Recipients.of(
    load_directory(
        {
            "people": [
                {"id": "li.na", "name": "李娜", "quiet_hours": {"start": "22:00", "end": "08:00"}},
                {"id": "emma", "name": "Emma", "timezone": "Europe/London"},
            ],
            "teams": [
                {"id": "care", "name": "Care", "members": ["li.na", "emma"], "handles": {"wecom": ROBOT}}
            ],
        }
    )
)


def plan() -> Plan:
    return Plan(DIRECTORY, QuietHours(("P1",)))


def request(recipient: dict, channels: list[str], level: str = "P3") -> dict:
    return {
        "notification_id": "n1",
        "kind": "case_assigned",
        "recipient": recipient,
        "channels": channels,
        "level": level,
        "case_id": "CASE-1",
        "context": {"case_id": "CASE-1"},
    }


def test_a_team_gets_one_message_on_its_robot_and_its_members_one_each_elsewhere():
    targets = plan().targets(request({"kind": "team", "id": "care"}, ["wecom", "email"]))
    assert targets == [
        ({"kind": "team", "id": "care"}, "wecom"),
        ({"kind": "person", "id": "emma"}, "email"),
        ({"kind": "person", "id": "li.na"}, "email"),
    ]


def test_an_unknown_recipient_is_still_a_target_so_that_it_fails_visibly():
    ghost = {"kind": "person", "id": "ghost"}
    assert plan().targets(request(ghost, ["email"])) == [(ghost, "email")]


def test_deliveries_are_keyed_per_notification_channel_and_recipient_and_held_in_quiet_hours():
    li_na = {"kind": "person", "id": "li.na"}
    [doc] = plan().deliveries(request(li_na, ["email"]), LATE)
    assert doc == {
        "_id": delivery_key("n1", "email", li_na),
        "notification_id": "n1",
        "kind": "case_assigned",
        "level": "P3",
        "case_id": "CASE-1",
        "channel": "email",
        "recipient": li_na,
        "context": {"case_id": "CASE-1"},
        "status": "held",
        "next_attempt_at": MORNING,
        "held": True,
    }
    assert doc["_id"] == "n1|email|person:li.na"


def test_an_urgent_level_or_hold_false_makes_a_delivery_due_now():
    li_na = {"kind": "person", "id": "li.na"}
    [urgent] = plan().deliveries(request(li_na, ["email"], level="P1"), LATE)
    [test_message] = plan().deliveries(request(li_na, ["email"]), LATE, hold=False)
    for doc in (urgent, test_message):
        assert (doc["status"], doc["next_attempt_at"], doc["held"]) == ("scheduled", LATE, False)


def test_a_delivery_carries_extra_fields_and_an_unknown_recipient_is_not_held():
    ghost = {"kind": "person", "id": "ghost"}
    doc = plan().delivery("d|fallback", request(ghost, []), ghost, "email", LATE, fallback_of="d")
    assert doc["fallback_of"] == "d" and doc["_id"] == "d|fallback"
    assert (doc["status"], doc["next_attempt_at"], doc["recipient"]) == ("scheduled", LATE, ghost)
