"""A stand-in Teams Workflows webhook trigger."""

from __future__ import annotations

from services.notify.channels.teams import MESSAGE_LIMIT
from services.notify.channels.testing import Answer, Receiver, Request

ADAPTIVE = "application/vnd.microsoft.card.adaptive"


class FakeTeams(Receiver):
    path = "/workflows/abc/triggers/manual/paths/invoke"

    @property
    def webhook(self) -> str:
        return f"{self.base_url}{self.path}?api-version=2016-06-01&sig=xyz"

    def handle(self, request: Request) -> Answer:
        if request.path != self.path or request.query.get("sig") != "xyz":
            return Answer(401, {"error": {"code": "DirectApiAuthorizationRequired"}})
        if len(request.body) > MESSAGE_LIMIT:
            return Answer(413, {"error": {"code": "RequestEntityTooLarge"}})
        try:
            payload = request.json()
            assert payload["type"] == "message"
            [attachment] = payload["attachments"]
            assert attachment["contentType"] == ADAPTIVE
            card = attachment["content"]
            assert card["type"] == "AdaptiveCard" and card["body"]
        except (ValueError, KeyError, TypeError, AssertionError):
            return Answer(400, {"error": {"code": "InvalidRequestContent"}})
        return Answer(202, b"")
