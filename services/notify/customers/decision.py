"""Whether, when and on which channel a customer message may go out. Pure: every input is given.

The order of the checks is the order of their weight: an expired request is never
sent; an erased customer is never contacted (``no_contact``); an overall opt-out
refuses every channel; then the first channel of the request's preference the customer
has an address on and has not opted out of; contact fatigue (contacts in the last
``fatigue_days`` days, feedback given and messages sent, at or above ``fatigue_limit``);
last, quiet hours in the customer's time zone defer the send to their end, unless the
request's ``not_after`` comes first (``quiet_hours_expired``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.notify.quiet import release_at

SEND, DEFER, REFUSE, FAIL = "send", "defer", "refuse", "fail"


@dataclass(frozen=True)
class Contact:
    """What the profiles service knows of where to reach the customer."""

    customer_id: str  # after merges: the surviving id
    known: bool = True
    erased: bool = False
    addresses: dict = field(default_factory=dict)  # channel -> address
    timezone: str | None = None
    name: str | None = None
    recent_feedback: int = 0  # feedback given in the fatigue window


@dataclass(frozen=True)
class Consent:
    """The customer's opt-outs as notify keeps them (``CustomerStore.consent``)."""

    all: bool = False  # opted out of every channel
    channels: frozenset[str] = frozenset()
    erased: bool = False  # a customer_erased arrived for them


@dataclass(frozen=True)
class Rules:
    """The deployment's contact rules (settings ``CUSTOMER_*``)."""

    fatigue_limit: int = 3  # contacts allowed in the window; 0: no limit
    fatigue_days: int = 7
    quiet_hours: dict | None = None  # {"start": "21:00", "end": "09:00"} in the customer's zone
    default_timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class Decision:
    action: str  # send | defer | refuse | fail
    channel: str | None = None
    reason: str | None = None  # a refusal reason, or why it failed
    until: float | None = None  # defer: when to decide again (epoch seconds)
    detail: str | None = None  # for the log: which check decided and with what


def decide(
    request: dict,
    contact: Contact,
    consent: Consent,
    sent_recently: int,
    rules: Rules,
    now: float,
    tried: tuple[str, ...] = (),
) -> Decision:
    """What to do with ``request`` now. ``sent_recently``: messages notify sent the
    customer in the fatigue window (this one not counted); ``tried``: channels this
    message already failed on for good (the next preference is taken)."""
    not_after = _epoch(request.get("not_after"))
    if not_after is not None and now > not_after:
        return Decision(REFUSE, reason="expired", detail=f"not_after {request['not_after']} has passed")
    if contact.erased or consent.erased:
        return Decision(REFUSE, reason="no_contact", detail="the customer's personal data was erased")
    if consent.all:
        return Decision(REFUSE, reason="opted_out", detail="opted out of every channel")
    reachable = [c for c in request["channels"] if contact.addresses.get(c) and c not in tried]
    if not reachable:
        if tried:
            return Decision(FAIL, reason=f"no channel left after {', '.join(tried)} failed")
        return Decision(REFUSE, reason="no_contact", detail=f"no address on {', '.join(request['channels'])}")
    allowed = [c for c in reachable if c not in consent.channels]
    if not allowed:
        return Decision(REFUSE, reason="opted_out", detail=f"opted out of {', '.join(reachable)}")
    contacts = contact.recent_feedback + sent_recently
    if rules.fatigue_limit and contacts >= rules.fatigue_limit:
        return Decision(
            REFUSE,
            reason="fatigued",
            detail=f"{contacts} contacts in {rules.fatigue_days} days (limit {rules.fatigue_limit})",
        )
    zone = contact.timezone or rules.default_timezone
    release = release_at(datetime.fromtimestamp(now, UTC), rules.quiet_hours, zone)
    if release is not None:
        if not_after is not None and release.timestamp() > not_after:
            return Decision(
                REFUSE,
                reason="quiet_hours_expired",
                detail=f"quiet hours in {zone} end at {release.isoformat()}, after not_after",
            )
        return Decision(DEFER, channel=allowed[0], until=release.timestamp(), detail=f"quiet hours in {zone}")
    return Decision(SEND, channel=allowed[0])


def _epoch(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.timestamp()


def parse_quiet_hours(value: str) -> dict | None:
    """``"21:00-09:00"`` → ``{"start": "21:00", "end": "09:00"}``; ``none`` → None."""
    value = (value or "").strip()
    if not value or value.lower() == "none":
        return None
    start, sep, end = value.partition("-")
    if not sep:
        raise ValueError(f"CUSTOMER_QUIET_HOURS: HH:MM-HH:MM expected, got {value!r}")
    for part in (start, end):
        hours, _, minutes = part.strip().partition(":")
        if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
            raise ValueError(f"CUSTOMER_QUIET_HOURS: HH:MM-HH:MM expected, got {value!r}")
    return {"start": start.strip(), "end": end.strip()}
