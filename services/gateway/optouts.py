"""Customers' contact opt-outs (退订) in the console and the API, over the notify service's
RPC (services/notify/consent_rpc.py): list the opt-outs in force (search by customer id,
by channel), record one with a reason, withdraw one with a reason. Notify keeps each
change with who, when and why in the customer's history (the audit); every message to a
customer checks them before any contact. For owners (CX managers) and admins, as
``cxctl notify customers opt-out|opt-in`` is for operators (routes.py).

The console page and its forms are ``optout_page.py``; the routes (API and page)
``optout_endpoints.py``, mixed into ``GatewayService``.
"""

from __future__ import annotations

import logging

from marshmallow import RAISE, Schema, fields, validate
from nameko.exceptions import RpcTimeout, UnknownService

from contracts.base import ID_PATTERN, NOT_AN_ID, Pattern
from services.gateway.actions import load_valid_body
from services.gateway.errors import bad_request

log = logging.getLogger(__name__)

CHANNELS = ("all", "sms", "email", "wechat_oa")  # notify's OPT_OUT_CHANNELS
REASON = validate.Length(min=1, max=500)  # notify keeps at most 500 characters
CUSTOMER = [validate.Length(min=1, max=128), Pattern(ID_PATTERN, error=NOT_AN_ID)]


class ReasonBody(Schema):
    """``POST /api/v1/optouts/{customer_id}/{channel}/remove``: why it is withdrawn."""

    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=REASON)


class OptOutBody(ReasonBody):
    """``POST /api/v1/optouts``: the customer opts out of a channel (``all``: every one)."""

    customer_id = fields.String(required=True, validate=CUSTOMER)
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))


def channel_of(channel: str) -> str:
    if channel not in CHANNELS:
        raise bad_request([f"channel: one of {', '.join(CHANNELS)}"], "path")
    return channel


def listing(services, q: dict) -> list[dict]:
    """The opt-outs in force matching ``q`` (routes.OptOutQuery), ``limit + 1`` of them."""
    return services.notify.list_customer_opt_outs(
        q.get("customer"), q.get("channel"), q["limit"] + 1, q["offset"]
    )


def add(services, user: dict, document, where: str = "body") -> tuple[int, dict]:
    body = load_valid_body(OptOutBody, document, where)
    done = services.notify.set_customer_opt_out(
        body["customer_id"], body["channel"], True, user["id"], body["reason"]
    )
    return 201, done


def remove(services, user: dict, customer_id: str, channel: str, document, where: str = "body") -> dict:
    """Withdraw an opt-out in force (404 when there is none)."""
    body = load_valid_body(ReasonBody, document, where)
    channel = channel_of(channel)
    return services.notify.withdraw_customer_opt_out(customer_id, channel, user["id"], body["reason"])


def status(services, customer_id: str) -> dict:
    """A customer's opt-outs per channel for the profile page: ``{"available", "channels":
    {channel: entry or None}}``; ``available: False`` when notify does not answer."""
    try:
        consent = services.notify.get_customer_consent(customer_id)
    except (RpcTimeout, UnknownService) as exc:
        log.warning("opt-outs of %s not available (%s)", customer_id, type(exc).__name__)
        return {"available": False, "channels": {}}
    entries = consent.get("opt_out") or {}
    return {
        "available": True,
        "channels": {c: entries[c] if (entries.get(c) or {}).get("opted_out") else None for c in CHANNELS},
    }
