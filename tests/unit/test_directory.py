from datetime import UTC, datetime

import pytest

from services.common.errors import BadRequest
from services.notify.directory import load_directory
from services.notify.quiet import release_at


def errors(document):
    with pytest.raises(BadRequest) as info:
        load_directory(document)
    return info.value.errors


def test_handles_are_validated_by_each_channel_schema():
    found = errors(
        {
            "people": [
                {
                    "id": "li.na",
                    "name": "李娜",
                    "handles": {
                        "dingtalk": {"webhook": "not a url", "mobile": "abc"},
                        "pager": {"number": "1"},
                        "slack": {"webhook": "https://hooks.slack.com/x", "token": "t"},
                        "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=1",
                    },
                    "quiet_hours": {"start": "25:00", "end": "08:00"},
                    "timezone": "Mars/Olympus",
                }
            ]
        }
    )
    assert "people.0.handles.dingtalk.webhook: Not a valid URL." in found
    assert any(e.startswith("people.0.handles.dingtalk.mobile: a mobile number") for e in found)
    assert any(e.startswith("people.0.handles.pager: unknown IM channel") for e in found)
    assert "people.0.handles.slack.token: Unknown field." in found
    assert "people.0.handles.wecom: a mapping of handle fields" in found
    assert "people.0.quiet_hours.start: a time of day HH:MM (24 h)" in found
    assert any(e.startswith("people.0.timezone: unknown time zone 'Mars/Olympus'") for e in found)


def test_a_valid_directory_keeps_handles_and_defaults():
    loaded = load_directory(
        {
            "people": [{"id": "emma", "name": "Emma", "handles": {"feishu": {"user_id": "ou_1"}}}],
            "teams": [
                {
                    "id": "care",
                    "name": "Care",
                    "members": ["emma"],
                    "handles": {
                        "feishu": {
                            "webhook": "https://open.feishu.cn/open-apis/bot/v2/hook/x",
                            "secret": "s3cret-value",
                        }
                    },
                }
            ],
        }
    )
    assert loaded["people"][0]["handles"]["feishu"] == {"user_id": "ou_1", "format": "card"}
    assert loaded["teams"][0]["language"] == "zh-CN" and loaded["people"][0]["quiet_hours"] is None


QUIET = {"start": "22:00", "end": "08:00"}


@pytest.mark.parametrize(
    "utc,expected",
    [
        (datetime(2026, 11, 20, 13, 59, tzinfo=UTC), None),  # 21:59 Shanghai
        (datetime(2026, 11, 20, 14, 0, tzinfo=UTC), datetime(2026, 11, 21, 0, 0, tzinfo=UTC)),  # 22:00
        (datetime(2026, 11, 20, 23, 59, tzinfo=UTC), datetime(2026, 11, 21, 0, 0, tzinfo=UTC)),  # 07:59
        (datetime(2026, 11, 21, 0, 0, tzinfo=UTC), None),  # 08:00: over
    ],
)
def test_quiet_hours_spanning_midnight(utc, expected):
    assert release_at(utc, QUIET, "Asia/Shanghai") == expected


def test_quiet_hours_follow_the_recipients_zone_across_dst():
    # London leaves summer time on 2026-10-25: 08:00 local is 07:00 UTC before, 08:00 UTC after
    assert release_at(datetime(2026, 10, 24, 23, 0, tzinfo=UTC), QUIET, "Europe/London") == datetime(
        2026, 10, 25, 8, 0, tzinfo=UTC
    )
    assert release_at(datetime(2026, 10, 23, 23, 0, tzinfo=UTC), QUIET, "Europe/London") == datetime(
        2026, 10, 24, 7, 0, tzinfo=UTC
    )
    daytime = {"start": "12:00", "end": "13:30"}
    assert release_at(datetime(2026, 11, 20, 4, 0, tzinfo=UTC), daytime, "Asia/Shanghai") == datetime(
        2026, 11, 20, 5, 30, tzinfo=UTC
    )
    assert release_at(datetime(2026, 11, 20, 4, 0, tzinfo=UTC), None, "Asia/Shanghai") is None
