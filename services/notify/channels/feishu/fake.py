"""A stand-in Feishu custom bot endpoint that verifies the signature like Feishu."""

from __future__ import annotations

import time

from services.notify.channels.common import hmac_sha256_b64
from services.notify.channels.feishu import BODY_LIMIT
from services.notify.channels.testing import Answer, Receiver, Request


class FakeFeishu(Receiver):
    def __init__(self, token: str = "fs-token", secret: str = "feishu-secret", clock=time.time):
        self.token = token
        self.secret = secret
        self.clock = clock  # the vendor's clock; tests with an injected now pass theirs
        super().__init__()

    @property
    def webhook(self) -> str:
        return f"{self.base_url}/open-apis/bot/v2/hook/{self.token}"

    def success(self, answer: Answer) -> bool:
        return isinstance(answer.body, dict) and answer.body.get("code") == 0

    def handle(self, request: Request) -> Answer:
        if request.path != f"/open-apis/bot/v2/hook/{self.token}":
            return Answer(404, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"})
        if len(request.body) > BODY_LIMIT:
            return Answer(400, {"code": 9499, "msg": "request body too large"})
        try:
            payload = request.json()
            timestamp = int(payload["timestamp"])
        except (ValueError, KeyError, TypeError):
            return Answer(200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
        expected = hmac_sha256_b64(f"{timestamp}\n{self.secret}", b"")
        if abs(self.clock() - timestamp) > 3600 or payload.get("sign") != expected:
            return Answer(200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
        try:
            if payload["msg_type"] == "interactive":
                card = payload["card"]
                assert card["header"]["title"]["content"]
                assert card["elements"][0]["text"]["tag"] == "lark_md"
            else:
                assert payload["msg_type"] == "text" and isinstance(payload["content"]["text"], str)
        except (KeyError, TypeError, IndexError, AssertionError):
            return Answer(400, {"code": 9499, "msg": "Bad Request"})
        return Answer(200, {"code": 0, "msg": "success", "data": {}})
