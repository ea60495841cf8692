"""The customer's contact details and recent feedback, from the profiles service.

Notify keeps no copy of customers' addresses: the profiles service holds the newest
identity (the feedback events' ``customer.phone`` / ``email`` and
``customer.attributes.wechat_openid`` / ``timezone``), merges and erasures. One RPC per
message decision (``profiles.customer_contact``) answers with the address, whether the
customer is erased, and their feedback count in the fatigue window, so an erasure or a
new number applies to the next decision at once; no cache can serve an erased
customer's number. Customer messages are few (a follow-up per resolved case), so the
call costs little.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.notify.channels.base import CustomerChannel
from services.notify.customers.decision import Contact

Lookup = Callable[[str, int], dict]  # (customer_id, fatigue_days) -> profiles.customer_contact


def contact_from(answer: dict, channels: dict[str, CustomerChannel]) -> Contact:
    """A ``Contact`` from the profiles service's answer: each channel's address by the
    contact field it uses (``CustomerChannel.address_field``)."""
    addresses = {
        name: str(answer[channel.address_field])
        for name, channel in channels.items()
        if answer.get(channel.address_field)
    }
    return Contact(
        customer_id=answer["customer_id"],
        known=bool(answer.get("known")),
        erased=bool(answer.get("erased")),
        addresses=addresses,
        timezone=valid_zone(answer.get("timezone")),
        name=answer.get("name"),
        recent_feedback=int((answer.get("fatigue") or {}).get("feedback") or 0),
    )


def valid_zone(name) -> str | None:
    """An IANA zone the customer's attributes name, or None (the default applies)."""
    if not isinstance(name, str) or not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name
