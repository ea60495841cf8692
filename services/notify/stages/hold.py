"""The hold stage: does a message wait out its recipient's quiet hours (免打扰)?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.notify.quiet import release_at

DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class Hold:
    """When a message that falls in quiet hours is released (None: it goes now), and why
    it is not held although it falls in them (an urgent level), else None."""

    release: datetime | None = None
    bypass: str | None = None


class QuietHours:
    """Holds non-urgent messages until the end of the recipient's quiet period; levels in
    ``urgent_levels`` (``NOTIFY_URGENT_LEVELS``) bypass it. Pure: ``now`` is given."""

    def __init__(self, urgent_levels: tuple[str, ...]):
        self.urgent_levels = urgent_levels

    def hold(self, level: str, recipient: dict, now: float) -> Hold:
        release = release_at(
            datetime.fromtimestamp(now, UTC),
            recipient.get("quiet_hours"),
            recipient.get("timezone") or DEFAULT_TIMEZONE,
        )
        if release is not None and level in self.urgent_levels:
            return Hold(bypass=f"level {level} is urgent (NOTIFY_URGENT_LEVELS) and bypasses quiet hours")
        return Hold(release=release)
