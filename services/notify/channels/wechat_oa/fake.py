"""A local WeChat official-account API: issues access tokens for the right appid and
secret (``GET /cgi-bin/token``) and takes template messages
(``POST /cgi-bin/message/template/send``) as the platform does: a token it did not
issue is 40001, an expired one 42001, an unknown template 40037, a customer who does
not follow the account 43004, a malformed ``data`` 47001."""

from __future__ import annotations

import itertools
import time

from services.notify.channels.testing import Answer, Receiver, Request

APPID = "wx-test-appid"
SECRET = "wechat-test-secret"
TEMPLATES = {"followup_survey": "TPL-followup", "case_reply": "TPL-reply", "playbook_reply": "TPL-reply"}
FIELDS = ("first", "keyword1", "keyword2", "remark")


class FakeWechat(Receiver):
    def __init__(self, followers: tuple[str, ...] = ("oC-follower-1",), expires_in: int = 7200):
        super().__init__()
        self.followers = set(followers)
        self.expires_in = expires_in
        self.tokens: dict[str, float] = {}  # token -> expires at
        self.counter = itertools.count(1)
        self.issued = 0
        self.sent: list[dict] = []

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (expired early, or replaced elsewhere)."""
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def _err(self, code: int, message: str) -> Answer:
        return Answer(200, {"errcode": code, "errmsg": message})

    def handle(self, request: Request) -> Answer:
        if request.method == "GET" and request.path == "/cgi-bin/token":
            return self._token(request.query)
        if request.method == "POST" and request.path == "/cgi-bin/message/template/send":
            return self._send(request)
        return Answer(404, "not found")

    def _token(self, query: dict) -> Answer:
        if query.get("grant_type") != "client_credential":
            return self._err(40002, "invalid grant_type")
        if query.get("appid") != APPID:
            return self._err(40013, "invalid appid")
        if query.get("secret") != SECRET:
            return self._err(40001, "invalid credential, access_token is invalid or not latest")
        token = f"token-{next(self.counter)}"
        self.tokens[token] = time.time() + self.expires_in
        self.issued += 1
        return Answer(200, {"access_token": token, "expires_in": self.expires_in})

    def _send(self, request: Request) -> Answer:
        token = request.query.get("access_token", "")
        if token not in self.tokens:
            return self._err(40001, "invalid credential, access_token is invalid or not latest")
        if self.tokens[token] <= time.time():
            return self._err(42001, "access_token expired")
        body = request.json()
        if body.get("template_id") not in TEMPLATES.values():
            return self._err(40037, "invalid template_id")
        if body.get("touser") not in self.followers:
            return self._err(43004, "require subscribe")
        data = body.get("data")
        if not isinstance(data, dict) or set(data) != set(FIELDS):
            return self._err(47001, "data format error")
        if not all(isinstance(v, dict) and isinstance(v.get("value"), str) for v in data.values()):
            return self._err(47001, "data format error")
        msgid = 200000 + len(self.sent)
        self.sent.append({**body, "msgid": msgid, "at": request.at})
        return Answer(200, {"errcode": 0, "errmsg": "ok", "msgid": msgid})

    def success(self, answer: Answer) -> bool:
        import json

        return json.loads(answer.encoded()).get("errcode") == 0
