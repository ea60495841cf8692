"""DingTalk (钉钉) custom group robot.

Vendor facts (open.dingtalk.com/document/robots/custom-robot-access and
…/robots/customize-robot-security-settings): POST JSON to
``https://oapi.dingtalk.com/robot/send?access_token=TOKEN``. With 加签 the URL
also carries ``timestamp`` (milliseconds, within one hour of DingTalk's clock)
and ``sign`` = urlencode(base64(HMAC-SHA256(key=secret, msg=timestamp+"\\n"+secret))).
``markdown`` messages have ``title`` and ``text``; ``at.atMobiles`` /
``at.atUserIds`` mention people, who must also appear as ``@mobile`` /
``@userId`` in the text. At most 20 messages per minute per robot (beyond
that the robot is throttled for 10 minutes, errcode 130101). The answer is
HTTP 200 with ``errcode`` (0 = sent).

Re-checked 2026-11-23 (search, docs corpus): "每个机器人每分钟最多发送20条消息到群里，
如果超过20条，会限流10分钟" is quoted from the custom-robot page by several guides
(blog.csdn.net/lxw1844912514/article/details/125780346, cnblogs.com/Fogram-c/p/16992729.html)
with the throttling answer ``errcode 130101 "send too fast, exceed 20 times per
minute"``; no size limit for ``markdown.text`` was found stated by DingTalk, so the
conservative 15,000 bytes stays.
"""

from __future__ import annotations

from urllib.parse import quote_plus

from marshmallow import fields

from contracts.people import MOBILE  # the directory contract and the channel accept the same numbers
from services.notify.channels import http
from services.notify.channels.base import Destination, HandleSchema, Note, Outcome, Rate
from services.notify.channels.common import USER_ID, hmac_sha256_b64, link_label, webhook_url
from services.notify.channels.truncate import fit, truncate, utf8_bytes

# DingTalk does not state a size for custom-robot markdown; 15,000 bytes is the
# limit it documents for robot message parameters (groupMessages/send msgParam).
TEXT_LIMIT = 15_000  # bytes
TITLE_LIMIT = 100  # characters shown in the notification preview; our choice
# -1 system busy; 130101 sending too fast (throttled for 10 minutes)
TRANSIENT = {-1: None, 130101: 600.0}


class Handle(HandleSchema):
    webhook = webhook_url()
    secret = fields.String(validate=lambda s: 8 <= len(s) <= 200)
    user_id = fields.String(validate=USER_ID)
    mobile = fields.String(validate=MOBILE)


def sign(secret: str, timestamp_ms: int) -> str:
    """The URL-encoded ``sign`` parameter for ``timestamp_ms``."""
    return quote_plus(hmac_sha256_b64(secret, f"{timestamp_ms}\n{secret}"))


def signed_url(webhook: str, secret: str | None, now: float) -> str:
    if not secret:
        return webhook
    timestamp = int(now * 1000)
    joiner = "&" if "?" in webhook else "?"
    return f"{webhook}{joiner}timestamp={timestamp}&sign={sign(secret, timestamp)}"


def build_payload(note: Note, destination: Destination) -> dict:
    mentions = " ".join([f"@{m}" for m in destination.mobiles] + [f"@{u}" for u in destination.user_ids])
    footer = (f"\n\n[{link_label(note.language)}]({note.url})" if note.url else "") + (
        f"\n\n{mentions}" if mentions else ""
    )
    return {
        "msgtype": "markdown",
        "markdown": {
            "title": truncate(note.title, TITLE_LIMIT, len),
            "text": fit(f"#### {note.title}\n\n{note.body}".rstrip(), footer, TEXT_LIMIT, utf8_bytes),
        },
        "at": {
            "atMobiles": list(destination.mobiles),
            "atUserIds": list(destination.user_ids),
            "isAtAll": False,
        },
    }


def interpret(response: http.Response) -> Outcome:
    return http.errcode_outcome(response, "dingtalk", TRANSIENT)


class DingTalkChannel(http.JsonWebhookChannel):
    name = "dingtalk"
    Handle = Handle
    # burst 1: evenly spaced sends never put more than 20 in any 60-second window
    rate = Rate(per_minute=20, burst=1, source="DingTalk custom robot: 20 messages/minute per robot")

    build = staticmethod(build_payload)
    interpret = staticmethod(interpret)

    def url(self, destination: Destination, now: float) -> str:
        return signed_url(destination.handle["webhook"], destination.handle.get("secret"), now)


CHANNEL = DingTalkChannel
