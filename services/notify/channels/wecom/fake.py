"""A stand-in WeCom group robot endpoint (see the package docstring for the facts it checks)."""

from __future__ import annotations

import time

from services.notify.channels.testing import Answer, PerMinute, Receiver, Request
from services.notify.channels.wecom import MARKDOWN_LIMIT, TEXT_LIMIT


class FakeWeCom(Receiver):
    def __init__(self, key: str = "robot-key", clock=time.time):
        self.key = key
        self.clock = clock
        self.rate = PerMinute(20)
        super().__init__()

    @property
    def webhook(self) -> str:
        return f"{self.base_url}/cgi-bin/webhook/send?key={self.key}"

    def success(self, answer: Answer) -> bool:
        return isinstance(answer.body, dict) and answer.body.get("errcode") == 0

    def handle(self, request: Request) -> Answer:
        if request.path != "/cgi-bin/webhook/send" or request.query.get("key") != self.key:
            return Answer(200, {"errcode": 93000, "errmsg": "invalid webhook url"})
        try:
            payload = request.json()
            kind = payload["msgtype"]
            content = payload[kind]["content"]
        except (ValueError, KeyError, TypeError):
            return Answer(200, {"errcode": 40008, "errmsg": "invalid message type"})
        limit = {"markdown": MARKDOWN_LIMIT, "text": TEXT_LIMIT}.get(kind)
        if limit is None:
            return Answer(200, {"errcode": 40008, "errmsg": "invalid message type"})
        if len(content.encode("utf-8")) > limit:
            return Answer(200, {"errcode": 40058, "errmsg": f"content exceed max length {limit}"})
        if not self.rate.allow(self.clock()):
            return Answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
        return Answer(200, {"errcode": 0, "errmsg": "ok"})
