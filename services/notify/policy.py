"""What the delivery pipeline is configured with: retries, fallback, lease, quiet hours
(built from settings by ``dependencies.policy_from_settings``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """Retry, fallback, lease and quiet-hours settings (configuration, not code)."""

    max_attempts: int = 5
    backoff_base: float = 5.0  # seconds; attempt n waits up to base * 2**(n-1)
    backoff_cap: float = 900.0
    lease: float = 60.0  # longer than one send can take (HTTP/SMTP timeouts are 10 s)
    fallback: dict | None = None  # channel -> fallback channel, e.g. {"wecom": "email"}
    urgent_levels: tuple[str, ...] = ("P1",)
    batch: int = 50  # deliveries one sweep handles at most
    concurrency: int = 10  # deliveries of one batch of requests attempted at once
