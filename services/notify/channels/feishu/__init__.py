"""Feishu / Lark (飞书) custom bot.

Vendor facts (open.feishu.cn/document/client-docs/bot-v3/add-custom-bot): POST
JSON to ``https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN``. With signature
verification the body carries ``timestamp`` (seconds, within one hour) and
``sign`` = base64(HMAC-SHA256(key=timestamp+"\\n"+secret, msg="")). A request
body is at most 20 KB; at most 100 requests/minute and 5/second per bot. The
answer carries ``code`` (0 = sent; 19021 signature or timestamp rejected;
11232 frequency limited). ``interactive`` cards use ``lark_md`` text where a
member is mentioned with ``<at id=open_id></at>``; ``text`` messages use
``<at user_id="open_id">name</at>``.

Re-checked 2026-11-23 (search, docs corpus): the official 20 KB request limit
of add-custom-bot was not found restated; one client reports measuring about 150 KiB
before ``error 19036`` (github.com/hughcube/laravel-lark v1.0.0 release notes). We keep
the documented 20 KB: it is the vendor's stated contract, the measured figure is not.
"""

from __future__ import annotations

import json

from marshmallow import fields, validate

from services.notify.channels import http
from services.notify.channels.base import Channel, Destination, HandleSchema, Note, Outcome, Rate
from services.notify.channels.common import USER_ID, hmac_sha256_b64, link_label, webhook_url
from services.notify.channels.truncate import fit, json_bytes

BODY_LIMIT = 20 * 1024  # bytes of the whole request body
TRANSIENT = {11232: 1.0}
# Card header colours by level (Feishu card template names).
COLOURS = {"P1": "red", "P2": "orange", "P3": "yellow", "P4": "blue"}


class Handle(HandleSchema):
    webhook = webhook_url()
    secret = fields.String(validate=validate.Length(min=8, max=200))
    user_id = fields.String(validate=USER_ID)
    format = fields.String(load_default="card", validate=validate.OneOf(("card", "text")))


def sign(secret: str, timestamp: int) -> str:
    return hmac_sha256_b64(f"{timestamp}\n{secret}", b"")


def _card(note: Note, content: str) -> dict:
    elements: list[dict] = [{"tag": "div", "text": {"tag": "lark_md", "content": content}}]
    if note.url:
        elements.append(
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": link_label(note.language)},
                        "url": note.url,
                        "type": "primary",
                    }
                ],
            }
        )
    return {
        "config": {"wide_screen_mode": True},
        "header": {
            "title": {"tag": "plain_text", "content": note.title},
            "template": COLOURS.get(note.level, "blue"),
        },
        "elements": elements,
    }


def build_payload(note: Note, destination: Destination, timestamp: int | None = None) -> dict:
    secret = destination.handle.get("secret")
    envelope: dict = {}
    if secret and timestamp is not None:
        envelope = {"timestamp": str(timestamp), "sign": sign(secret, timestamp)}
    if destination.handle.get("format") == "text":
        mentions = " ".join(f'<at user_id="{u}"></at>' for u in destination.user_ids)
        footer = (f"\n{link_label(note.language)}: {note.url}" if note.url else "") + (
            f"\n{mentions}" if mentions else ""
        )
        payload = {**envelope, "msg_type": "text", "content": {"text": ""}}
        room = BODY_LIMIT - len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
        payload["content"]["text"] = fit(f"{note.title}\n{note.text}".rstrip(), footer, room, json_bytes)
        return payload
    mentions = " ".join(f"<at id={u}></at>" for u in destination.user_ids)
    footer = f"\n{mentions}" if mentions else ""
    payload = {**envelope, "msg_type": "interactive", "card": _card(note, "")}
    room = BODY_LIMIT - len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    payload["card"] = _card(note, fit(note.body.rstrip(), footer, room, json_bytes))
    return payload


def interpret(response: http.Response) -> Outcome:
    answer = response.json() or {}
    code = answer.get("code", answer.get("StatusCode"))
    if 200 <= response.status < 300 and code == 0:
        return Outcome.ok(http_status=response.status)
    if code in TRANSIENT:
        return Outcome.retry(f"feishu code {code}: {answer.get('msg')}", TRANSIENT[code], response.status)
    generic = http.status_outcome(response)
    if generic is not None and generic.status == "retry":
        return generic
    return Outcome.failed(
        f"feishu code {code}: {answer.get('msg')} (HTTP {response.status})", response.status
    )


class FeishuChannel(Channel):
    name = "feishu"
    Handle = Handle
    # burst 1 at 100/minute also keeps under 5/second
    rate = Rate(per_minute=100, burst=1, source="Feishu custom bot: 100/minute, 5/second")

    def preview(self, note: Note, destination: Destination) -> dict:
        return build_payload(note, destination)

    def deliver(self, note: Note, destination: Destination, now: float) -> Outcome:
        payload = build_payload(note, destination, int(now))
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return http.post(destination.handle["webhook"], body, {}, interpret, self.settings.get("timeout", 10))


CHANNEL = FeishuChannel
