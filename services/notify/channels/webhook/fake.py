"""A receiver of the generic signed webhook, verifying it as the README tells receivers to."""

from __future__ import annotations

import time

from services.notify.channels.testing import Answer, Receiver, Request
from services.notify.channels.webhook import verify


class FakeWebhookReceiver(Receiver):
    def __init__(self, secret: str = "a-long-shared-secret", clock=time.time):
        self.secret = secret
        self.seen: set[str] = set()
        self.duplicates = 0
        self.clock = clock  # the vendor's clock; tests with an injected now pass theirs
        super().__init__()

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/cx"

    def handle(self, request: Request) -> Answer:
        problem = verify(self.secret, request.headers, request.body, self.clock())
        if problem:
            return Answer(401, {"error": problem})
        delivery_id = request.headers.get("X-CX-Delivery-Id", "")
        if delivery_id in self.seen:
            self.duplicates += 1
            return Answer(200, {"status": "duplicate"})
        self.seen.add(delivery_id)
        return Answer(200, {"status": "accepted"})

    def success(self, answer: Answer) -> bool:
        return answer.body == {"status": "accepted"}
