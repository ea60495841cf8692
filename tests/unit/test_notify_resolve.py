"""The resolve stage: a delivery's channel, recipient and address, or why it cannot go."""

from services.notify.channels.base import Destination
from services.notify.channels.dingtalk import DingTalkChannel
from services.notify.channels.email import EmailChannel, SmtpConfig
from services.notify.channels.wecom import WeComChannel
from services.notify.directory import load_directory
from services.notify.stages.resolve import Resolver, destination
from services.notify.store import Recipients

CARE_ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=care-robot-token-123"
OWN_ROBOT = "https://oapi.dingtalk.com/robot/send?access_token=emma-own-token-4567"
DIRECTORY = Recipients.of(
    load_directory(
        {
            "people": [
                {
                    "id": "li.na",
                    "name": "李娜",
                    "email": "li.na@example.com",
                    "handles": {"dingtalk": {"mobile": "13800001111"}},
                },
                {
                    "id": "emma",
                    "name": "Emma",
                    "handles": {"dingtalk": {"webhook": OWN_ROBOT, "user_id": "emma01"}},
                },
                {"id": "solo", "name": "Solo"},
            ],
            "teams": [
                {
                    "id": "care",
                    "name": "Care",
                    "members": ["li.na", "emma"],
                    "handles": {"dingtalk": {"webhook": CARE_ROBOT, "secret": "SECabcdefgh12345678"}},
                }
            ],
        }
    )
)
CHANNELS = {
    "dingtalk": DingTalkChannel(),
    "email": EmailChannel({"smtp": SmtpConfig(host="127.0.0.1", port=1, sender="cx@example.com")}),
    "wecom": WeComChannel(),
}


def resolve(kind: str, id_: str, channel: str):
    return Resolver(DIRECTORY, CHANNELS).resolve({"kind": kind, "id": id_}, channel)


def test_a_team_robot_mentions_every_member_and_its_secrets_are_named():
    to = resolve("team", "care", "dingtalk")
    assert to.error is None and to.channel is CHANNELS["dingtalk"] and to.recipient["id"] == "care"
    assert to.destination == Destination(
        {"webhook": CARE_ROBOT, "secret": "SECabcdefgh12345678"}, ("emma01",), ("13800001111",), None
    )
    assert "SECabcdefgh12345678" in to.secrets and "care-robot-token-123" in to.secrets


def test_a_person_without_a_robot_uses_their_teams_and_one_with_their_own_keeps_it():
    li_na = resolve("person", "li.na", "dingtalk")
    assert li_na.destination.handle == {
        "webhook": CARE_ROBOT,
        "secret": "SECabcdefgh12345678",
        "mobile": "13800001111",
    }
    assert li_na.destination.mobiles == ("13800001111",) and li_na.destination.email == "li.na@example.com"
    assert resolve("person", "emma", "dingtalk").destination.handle["webhook"] == OWN_ROBOT


def test_email_never_borrows_a_team_handle():
    to = resolve("person", "li.na", "email")
    assert to.error is None and to.destination.handle == {} and to.destination.email == "li.na@example.com"


def test_why_a_delivery_cannot_go_with_what_was_found_before():
    assert resolve("person", "li.na", "pager").error == "channel pager is not configured"
    unknown = resolve("person", "ghost", "email")
    assert unknown.error == "unknown recipient person ghost" and unknown.channel is CHANNELS["email"]
    no_robot = resolve("person", "solo", "wecom")
    assert no_robot.error == "no wecom webhook"
    assert no_robot.recipient["id"] == "solo" and no_robot.destination == Destination({})
    assert no_robot.secrets == ()
    assert resolve("person", "solo", "email").error == "no email address"


def test_a_channel_without_secrets_or_mention_field_is_taken_as_having_none():
    class StandIn:
        name = "dingtalk"

        def check(self, destination):
            pass

    to = Resolver(DIRECTORY, {"dingtalk": StandIn()}).resolve({"kind": "team", "id": "care"}, "dingtalk")
    assert to.error is None and to.secrets == () and to.destination.user_ids == ("emma01",)
    assert destination(DIRECTORY, {"kind": "person", "id": "x", "name": "X"}, "dingtalk") == Destination({})
