"""A stand-in Slack incoming webhook."""

from __future__ import annotations

from services.notify.channels.slack import HEADER_LIMIT, SECTION_LIMIT
from services.notify.channels.testing import Answer, Receiver, Request


class FakeSlack(Receiver):
    path = "/services/T000/B000/XXXX"

    @property
    def webhook(self) -> str:
        return f"{self.base_url}{self.path}"

    def handle(self, request: Request) -> Answer:
        if request.path != self.path:
            return Answer(404, "no_service")
        try:
            payload = request.json()
            assert isinstance(payload["text"], str) and payload["text"]
            for block in payload.get("blocks", []):
                text = block["text"]["text"]
                limit = HEADER_LIMIT if block["type"] == "header" else SECTION_LIMIT
                assert len(text) <= limit
        except (ValueError, KeyError, TypeError, AssertionError):
            return Answer(400, "invalid_payload")
        return Answer(200, "ok")
