"""Customers' opt-outs over RPC (``NotifyService`` mixes ``ConsentRpc`` in): record one or
its withdrawal (who, when, why: each change is kept in the customer's history), read a
customer's, list them across customers. Every customer message checks them before any
contact (services/notify/customers/decision.py)."""

from __future__ import annotations

from services.common.errors import BadRequest, NotFound
from services.common.mongo import jsonable
from services.common.rpc import Id, page, rpc
from services.notify.customers.store import OPT_OUT_CHANNELS
from services.notify.store import NotifyStore


class ConsentRpc:
    """Mixed into ``NotifyService`` (which provides ``store``)."""

    store: NotifyStore

    @rpc(expected_exceptions=BadRequest)
    def set_customer_opt_out(
        self,
        customer_id: Id,
        channel: Id = "all",
        opted_out: bool = True,
        by: Id = "",
        reason: str | None = None,
    ) -> dict:
        """Record that a customer opted out of ``channel`` (or ``all``), or withdrew it,
        with who recorded it and why; every later message checks it before any contact."""
        check_channel(channel)
        if not isinstance(opted_out, bool):
            raise BadRequest("opted_out: true or false")
        if not by:
            raise BadRequest("by: who records the opt-out is required")
        if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
            raise BadRequest("reason: a text of at most 500 characters")
        return jsonable(self.store.customers.set_opt_out(customer_id, channel, opted_out, by, reason))

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def withdraw_customer_opt_out(self, customer_id: Id, channel: Id, by: Id, reason: str) -> dict:
        """Withdraw the customer's opt-out of ``channel`` in force (NotFound when there is
        none), with who and why; one conditional write, so of two at once one withdraws."""
        check_channel(channel)
        if not by:
            raise BadRequest("by: who withdraws the opt-out is required")
        if not isinstance(reason, str) or not 1 <= len(reason) <= 500:
            raise BadRequest("reason: a text of 1 to 500 characters")
        done = self.store.customers.set_opt_out(customer_id, channel, False, by, reason, only_in_force=True)
        if done is None:
            raise NotFound(f"channel: {customer_id} has no opt-out of {channel} in force")
        return jsonable(done)

    @rpc
    def get_customer_consent(self, customer_id: Id) -> dict:
        """A customer's opt-outs (overall and per channel, who/when/why) and their history."""
        doc = self.store.customers.get_consent(customer_id) or {
            "_id": customer_id,
            "opt_out": {},
            "history": [],
        }
        return jsonable(doc)

    @rpc(expected_exceptions=BadRequest)
    def list_customer_opt_outs(
        self, customer: str | None = None, channel: Id | None = None, limit: int = 50, skip: int = 0
    ) -> list[dict]:
        """The opt-outs in force, one row per customer and channel (who recorded it, when,
        why), by customer id then channel; ``customer``: the ids starting with it."""
        if channel is not None:
            check_channel(channel)
        if customer is not None and (not isinstance(customer, str) or not 1 <= len(customer) <= 128):
            raise BadRequest("customer: 1 to 128 characters of a customer id")
        limit, skip = page(limit, skip)
        return jsonable(self.store.customers.list_opt_outs(customer, channel, limit, skip))


def check_channel(channel) -> None:
    if channel not in OPT_OUT_CHANNELS:
        raise BadRequest(f"channel: one of {', '.join(OPT_OUT_CHANNELS)}")
