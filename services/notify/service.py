"""Notify service: renders and delivers notifications, and keeps a delivery log."""

from __future__ import annotations

from nameko.rpc import rpc

from contracts.base import utcnow
from services.common.errors import BadRequest
from services.common.messaging import ContractDispatcher, contract_event_handler
from services.common.mongo import MongoStore, handled_once, jsonable
from services.notify.channels import email
from services.notify.dependencies import Mailer, SmtpMailer, Templates
from services.notify.directory import load_directory
from services.notify.render import Renderer, language_for
from services.notify.store import NotifyStore


class PermanentFailure(Exception):
    """Delivery can never succeed as configured (no address, unknown channel)."""


class NotifyService:
    name = "notify"

    store: NotifyStore = MongoStore(NotifyStore)
    templates: Renderer = Templates()
    mailer: Mailer = SmtpMailer()
    dispatch = ContractDispatcher()

    @contract_event_handler("cases", "notification_requested")
    @handled_once("inbox")
    def handle_notification_requested(self, request: dict) -> None:
        """Deliver to every person the recipient reaches, on every requested channel."""
        people = self.store.resolve(request["recipient"])
        if not people:
            ref = request["recipient"]
            for channel in request["channels"]:
                self._finish(
                    request, ref, channel, "failed", error=f"unknown recipient {ref['kind']} {ref['id']}"
                )
        for person in people:
            for channel in request["channels"]:
                self._deliver(request, person, channel)

    def _deliver(self, request: dict, person: dict, channel: str) -> None:
        ref = {"kind": "person", "id": person["id"]}
        delivery_id = delivery_key(request, channel, ref)
        if self.store.is_finished(delivery_id):
            return
        language = language_for(person.get("language"))
        recipient = {"id": person["id"], "name": person.get("name"), "timezone": person.get("timezone")}
        rendered = self.templates.render(request["kind"], channel, language, request["context"], recipient)
        if rendered.fallback:
            self.store.count("template_fallbacks")
        try:
            if channel != "email":
                raise PermanentFailure(f"channel {channel} is not configured")
            if not person.get("email"):
                raise PermanentFailure(f"{person['id']} has no email address")
            msg = email.build_message(
                rendered,
                sender=self.mailer.config.sender,
                to=person["email"],
                delivery_id=delivery_id,
                case_id=request.get("case_id"),
                language=language,
            )
        except PermanentFailure as exc:
            self._finish(request, ref, channel, "failed", error=str(exc))
            return
        attempt = self.store.start_delivery(
            delivery_id,
            notification_id=request["notification_id"],
            channel=channel,
            person=person["id"],
            kind=request["kind"],
            case_id=request.get("case_id"),
            subject=rendered.subject,
            language=language,
            template_fallback=rendered.fallback,
        )
        # An SMTP error propagates: the consumer retries the message (bounded).
        self.mailer.send(msg)
        self._finish(request, ref, channel, "delivered", attempts=attempt, message_id=msg["Message-ID"])

    def _finish(
        self,
        request: dict,
        recipient: dict,
        channel: str,
        status: str,
        *,
        attempts: int = 1,
        error: str | None = None,
        message_id: str | None = None,
    ) -> None:
        """Record the outcome in the delivery log and announce it."""
        self.store.finish_delivery(
            delivery_key(request, channel, recipient),
            status,
            notification_id=request["notification_id"],
            channel=channel,
            person=recipient["id"],
            error=error,
            message_id=message_id,
            kind=request["kind"],
            case_id=request.get("case_id"),
        )
        if status == "failed":
            self.store.count("permanent_failures")
        self.dispatch(
            "notification_delivered",
            {
                "notification_id": request["notification_id"],
                "channel": channel,
                "recipient": recipient,
                "status": status,
                "attempts": attempts,
                "finished_at": utcnow(),
                "message_id": message_id,
                "error": error,
            },
        )

    @rpc(expected_exceptions=BadRequest)
    def apply_recipients(self, document) -> dict:
        """Validate and store the recipients directory (people and teams)."""
        return self.store.apply_directory(load_directory(document))

    @rpc
    def list_recipients(self) -> list[dict]:
        return jsonable(self.store.list_recipients())

    @rpc
    def list_deliveries(self, limit: int = 50, skip: int = 0, status: str | None = None) -> list[dict]:
        return jsonable(self.store.list_deliveries(limit=min(int(limit), 500), skip=int(skip), status=status))

    @rpc
    def stats(self) -> dict:
        return self.store.stats()


def delivery_key(request: dict, channel: str, recipient: dict) -> str:
    """One delivery = one notification × channel × recipient."""
    return f"{request['notification_id']}|{channel}|{recipient['kind']}:{recipient['id']}"
