"""A stand-in DingTalk custom robot endpoint that verifies 加签 like DingTalk."""

from __future__ import annotations

import time

from services.notify.channels.common import hmac_sha256_b64
from services.notify.channels.dingtalk import TEXT_LIMIT
from services.notify.channels.testing import Answer, PerMinute, Receiver, Request


class FakeDingTalk(Receiver):
    def __init__(self, token: str = "dt-token", secret: str = "SECdingtalk-secret", clock=time.time):
        self.token = token
        self.secret = secret
        self.rate = PerMinute(20)
        self.clock = clock  # the vendor's clock; tests with an injected now pass theirs
        super().__init__()

    @property
    def webhook(self) -> str:
        return f"{self.base_url}/robot/send?access_token={self.token}"

    def success(self, answer: Answer) -> bool:
        return isinstance(answer.body, dict) and answer.body.get("errcode") == 0

    def _signature_ok(self, request: Request) -> bool:
        try:
            timestamp = int(request.query["timestamp"])
        except (KeyError, ValueError):
            return False
        if abs(self.clock() * 1000 - timestamp) > 3600 * 1000:
            return False
        # parse_qs already URL-decoded the parameter once
        expected = hmac_sha256_b64(self.secret, f"{timestamp}\n{self.secret}")
        return request.query.get("sign") == expected

    def handle(self, request: Request) -> Answer:
        if request.path != "/robot/send" or request.query.get("access_token") != self.token:
            return Answer(200, {"errcode": 300001, "errmsg": "token is not exist"})
        if not self._signature_ok(request):
            return Answer(200, {"errcode": 310000, "errmsg": "sign not match"})
        try:
            payload = request.json()
            assert payload["msgtype"] == "markdown"
            title, text = payload["markdown"]["title"], payload["markdown"]["text"]
            assert isinstance(title, str) and title and isinstance(text, str)
            at = payload.get("at", {})
            mentioned = list(at.get("atMobiles", [])) + list(at.get("atUserIds", []))
        except (ValueError, KeyError, TypeError, AssertionError):
            return Answer(200, {"errcode": 40035, "errmsg": "缺少参数 json"})
        if len(text.encode("utf-8")) > TEXT_LIMIT:
            return Answer(200, {"errcode": 460101, "errmsg": "message too long"})
        missing = [m for m in mentioned if f"@{m}" not in text]
        if missing:  # DingTalk shows no @ unless the text carries it
            return Answer(200, {"errcode": 40035, "errmsg": f"@ missing in text: {missing}"})
        if not self.rate.allow(self.clock()):
            return Answer(200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
        return Answer(200, {"errcode": 0, "errmsg": "ok"})
