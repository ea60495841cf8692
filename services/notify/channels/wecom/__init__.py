"""WeCom (企业微信) group robot.

Vendor facts (developer.work.weixin.qq.com/document/path/91770): POST JSON to
``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY``; ``text`` content at
most 2048 bytes UTF-8 with ``mentioned_list`` (user ids) and
``mentioned_mobile_list``; ``markdown`` content at most 4096 bytes UTF-8, where
members are mentioned with ``<@userid>`` in the content; at most 20 messages
per minute per robot; the answer is HTTP 200 with ``errcode`` (0 = sent).

Re-checked 2026-11-23 (search, docs corpus): the 4096-byte markdown and
2048-byte text limits and 20 messages/minute are restated by third-party clients of
path/91770 (hexdocs.pm/wechat_sdk WeChat.Work.ChatRobot; github.com/ymlluo/group-robot),
and a production log shows the vendor's answer past the limit: ``errcode 40058,
"markdown.content exceed max length 4096"`` (github.com/RayWangQvQ/BiliBiliToolPro
issue 702), which ``errcode_outcome`` treats as permanent.
"""

from __future__ import annotations

from marshmallow import fields, validate

from contracts.people import MOBILE  # the directory contract and the channel accept the same numbers
from services.notify.channels import http
from services.notify.channels.base import Destination, HandleSchema, Note, Outcome, Rate
from services.notify.channels.common import USER_ID, link_label, webhook_url
from services.notify.channels.truncate import fit, utf8_bytes

MARKDOWN_LIMIT = 4096  # bytes
TEXT_LIMIT = 2048  # bytes
# errcodes that heal by waiting: -1 system busy, 45009 API frequency limit
TRANSIENT = {-1: None, 45009: 60.0}


class Handle(HandleSchema):
    webhook = webhook_url()
    user_id = fields.String(validate=USER_ID)
    mobile = fields.String(validate=MOBILE)
    format = fields.String(load_default="markdown", validate=validate.OneOf(("markdown", "text")))


def build_payload(note: Note, destination: Destination) -> dict:
    label = link_label(note.language)
    if destination.handle.get("format") == "text":
        footer = f"\n{label}: {note.url}" if note.url else ""
        content = fit(f"{note.title}\n{note.text}".rstrip(), footer, TEXT_LIMIT, utf8_bytes)
        return {
            "msgtype": "text",
            "text": {
                "content": content,
                "mentioned_list": list(destination.user_ids),
                "mentioned_mobile_list": list(destination.mobiles),
            },
        }
    mentions = " ".join(f"<@{u}>" for u in destination.user_ids)
    footer = (f"\n[{label}]({note.url})" if note.url else "") + (f"\n{mentions}" if mentions else "")
    content = fit(f"**{note.title}**\n{note.body}".rstrip(), footer, MARKDOWN_LIMIT, utf8_bytes)
    return {"msgtype": "markdown", "markdown": {"content": content}}


def interpret(response: http.Response) -> Outcome:
    return http.errcode_outcome(response, "wecom", TRANSIENT)


class WeComChannel(http.JsonWebhookChannel):
    name = "wecom"
    Handle = Handle
    # burst 1: evenly spaced sends never put more than 20 in any 60-second window
    rate = Rate(per_minute=20, burst=1, source="WeCom group robot: 20 messages/minute per robot")

    build = staticmethod(build_payload)
    interpret = staticmethod(interpret)


CHANNEL = WeComChannel
