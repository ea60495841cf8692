"""What an SMS vendor of the ``sms`` channel answers for one message."""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.channels.base import Outcome


@dataclass(frozen=True)
class Sent:
    """One send on one vendor. ``about_number``: the vendor refused or limited the number
    itself (illegal, blacklisted, its per-number limits), so no other vendor is tried:
    another vendor would refuse it too, or get round a limit that protects the customer."""

    outcome: Outcome
    about_number: bool = False


def not_configured(settings: tuple[tuple[str, str], ...]) -> str | None:
    """``not configured: <the names of the empty settings>``, or None when every one is set."""
    absent = [name for name, value in settings if not value]
    return f"not configured: {', '.join(absent)}" if absent else None
