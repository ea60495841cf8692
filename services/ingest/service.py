"""Ingest service: the feedback router for per-customer ordering (FEEDBACK_PARTITIONS > 0).

Run it next to the other services when partitions are on; replicas of it are
hot standbys (its input queue has a single active consumer).
"""

from __future__ import annotations

from services.common.health import HealthServer
from services.common.privacy import MaskedLogs
from services.common.rpc import rpc
from services.ingest.router import FeedbackRouter


class IngestService:
    name = "ingest"
    health = HealthServer()  # /livez, /readyz when HEALTH_PORT is set
    masked_logs = MaskedLogs()  # phones, emails, secrets masked in every log record

    router = FeedbackRouter()

    @rpc
    def stats(self) -> dict:
        """What this replica's router forwarded, retried, and saw without a customer id."""
        return self.router
