"""The vendors' callback routes (``GatewayService`` mixes them in): SMS delivery reports
and replies, the WeChat official account's server URL. No login: each is authenticated
by what its vendor provides (``vendor_callbacks.py``), and answered in the vendor's form;
a backend that does not answer is a 503, so the vendor pushes again and nothing is lost."""

from __future__ import annotations

import logging
from typing import Any

from werkzeug.wrappers import Response

from services.common.messaging import contract_event_handler
from services.common.mongo import jsonable
from services.gateway import sms_replies
from services.gateway import vendor_callbacks as vendors
from services.gateway.entrypoints import route
from services.gateway.errors import HttpError, bad_request
from services.gateway.inputs import query
from services.gateway.pagination import page

log = logging.getLogger(__name__)


class CallbackEndpoints:
    """Mixed into ``GatewayService`` (``services``, ``store``, ``publish_followup_answer``,
    ``callback_secrets``)."""

    services: Any
    store: Any
    publish_followup_answer: Any
    callback_secrets: Any

    @route("callbacks.sms_report")
    def sms_report(self, request, principal, vendor, callback_key):
        """Delivery reports: to notify, which updates the messages and tells cases."""
        vendors.check_sms_key(self.callback_secrets["sms_key"], callback_key)
        receipts = vendors.sms_receipts(vendor, request.environ.get("cx.json"))
        counts = self.services.notify.record_customer_receipts(receipts)
        log.info("%s SMS reports: %s", vendor, counts)
        return vendors.ACK[vendor]

    @route("callbacks.sms_reply")
    def sms_reply(self, request, principal, vendor, callback_key):
        """Customers' replies: each one answers its follow-up as the survey page does."""
        vendors.check_sms_key(self.callback_secrets["sms_key"], callback_key)
        for sms in vendors.sms_replies(vendor, request.environ.get("cx.json")):
            try:
                outcome = sms_replies.take(self.services, self.store, self.publish_followup_answer, sms)
            except HttpError:
                raise
            except Exception as exc:  # kept unsettled: the vendor pushes it again
                log.exception("SMS reply %s could not be taken now", sms.key)
                raise HttpError(503, "the reply could not be taken now; push it again") from exc
            log.info("SMS reply %s: %s", sms.key, outcome)
        return vendors.ACK[vendor]

    @contract_event_handler("profiles", "customer_erased")
    def handle_customer_erased(self, erased: dict) -> None:
        """The erased customer's SMS replies lose their text and number (idempotent)."""
        self.store.anonymise_customer(erased["customer_ids"])

    @route("sms_replies.list")
    def list_sms_replies(self, request, principal):
        """Every inbound SMS reply with its outcome: none is lost, unmatched ones included."""
        q = query(request, "sms_replies.list")
        rows = self.store.sms_replies(q.get("outcome"), q["limit"] + 1, q["offset"])
        return page(request, jsonable(rows), q["limit"], q["offset"])

    @route("callbacks.wechat_verify")
    def wechat_verify(self, request, principal):
        """The platform checks the server URL: the signed ``echostr`` comes back as it is."""
        args = query(request, "callbacks.wechat_verify")  # 400 naming a malformed parameter
        vendors.check_wechat(self.callback_secrets["wechat_token"], args)
        echo = args.get("echostr")
        if not echo:
            raise bad_request(["query.echostr: required"])
        return Response(echo, mimetype="text/plain")

    @route("callbacks.wechat_event")
    def wechat_event(self, request, principal):
        """Event pushes: a template message's delivery becomes a receipt; others are ignored."""
        vendors.check_wechat(self.callback_secrets["wechat_token"], query(request, "callbacks.wechat_event"))
        receipt = vendors.wechat_receipt(request.get_data(cache=False))
        if receipt is not None:
            self.services.notify.record_customer_receipts([receipt])
        return Response("success", mimetype="text/plain")
