"""A receiver of the generic signed webhook, verifying it as docs/notify.md tells receivers to."""

from __future__ import annotations

import time

from services.notify.channels.testing import Answer, Receiver, Request
from services.notify.channels.webhook import WebhookVerifier


class FakeWebhookReceiver(Receiver):
    def __init__(self, secret: str = "a-long-shared-secret", clock=time.time):
        self.secret = secret
        self.verifier = WebhookVerifier(secret)
        self.duplicates = 0
        self.rejected: list[str] = []
        self.clock = clock  # the vendor's clock; tests with an injected now pass theirs
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/cx"

    def handle(self, request: Request) -> Answer:
        verdict = self.verifier.check(request.headers, request.body, self.clock())
        if verdict.rejected:
            self.rejected.append(verdict.reason or "")
            return Answer(401, {"error": verdict.reason})
        if verdict.duplicate:
            self.duplicates += 1
            return Answer(200, {"status": "duplicate"})
        return Answer(200, {"status": "accepted"})

    def success(self, answer: Answer) -> bool:
        return answer.body == {"status": "accepted"}
