"""Email over SMTP: plain-text and HTML parts, stable Message-ID, one thread per case.

SMTP replies are classified as RFC 5321 says: 4yz is transient (retry), 5yz is
permanent (no retry); a refused connection, a timeout or a dropped session is
transient.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from services.notify.channels.base import (
    Channel,
    CustomerChannel,
    CustomerNote,
    Destination,
    NotConfigured,
    Note,
    Outcome,
)

MESSAGE_ID_DOMAIN = "cx-alerts.local"


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    security: str = "none"  # none | starttls | ssl
    user: str = ""
    password: str = ""
    sender: str = "CX Alerts <cx-alerts@example.com>"
    timeout: float = 10.0


def message_id(delivery_id: str) -> str:
    """Stable per delivery: a resend after a crash carries the same Message-ID,
    so mail clients show it once."""
    digest = hashlib.sha256(delivery_id.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{MESSAGE_ID_DOMAIN}>"


def thread_id(case_id: str) -> str:
    return f"<case-{case_id}@{MESSAGE_ID_DOMAIN}>"


def build_message(
    rendered, *, sender: str, to: str, delivery_id: str, case_id: str | None, language: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = getattr(rendered, "subject", None) or rendered.title
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id(delivery_id)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-CX-Delivery-Id"] = delivery_id
    if case_id:
        # Every mail about one case threads under one root id.
        msg["References"] = thread_id(case_id)
        msg["In-Reply-To"] = thread_id(case_id)
        msg["X-CX-Case-Id"] = case_id
    msg.set_content(rendered.text)
    if rendered.html:
        msg.add_alternative(rendered.html, subtype="html")
    # after set_content, which clears Content-* headers
    msg["Content-Language"] = language
    return msg


def send(config: SmtpConfig, msg: EmailMessage) -> None:
    """One SMTP conversation; raises smtplib/OSError errors to the caller."""
    if config.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            config.host, config.port, timeout=config.timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    with client:
        if config.security == "starttls":
            client.starttls(context=ssl.create_default_context())
        if config.user:
            client.login(config.user, config.password)
        client.send_message(msg)


def classify(exc: Exception) -> Outcome:
    """Delivered / retry / failed for an exception raised by ``send``."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        detail = "; ".join(f"{rcpt}: {code} {msg!r}" for rcpt, (code, msg) in exc.recipients.items())
        if codes and all(400 <= c < 500 for c in codes):
            return Outcome.retry(f"recipient deferred: {detail}")
        return Outcome.failed(f"recipient refused: {detail}")
    if isinstance(exc, smtplib.SMTPResponseException):
        error = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
        return Outcome.retry(error) if 400 <= exc.smtp_code < 500 else Outcome.failed(error)
    if isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError)):
        return Outcome.retry(f"{type(exc).__name__}: {exc}")
    return Outcome.failed(f"{type(exc).__name__}: {exc}")


class EmailChannel(Channel):
    name = "email"
    template_format = "email"
    destination_field = "email"
    rate = None  # the relay applies its own limits and answers 4yz when exceeded

    @property
    def config(self) -> SmtpConfig:
        return self.settings["smtp"]

    def check(self, destination: Destination) -> None:
        if not destination.email:
            raise NotConfigured("no email address")

    def secrets(self, destination: Destination) -> list[str]:
        return [self.config.password] if self.config.password else []

    def message(self, note: Note, destination: Destination):
        return build_message(
            note,
            sender=self.config.sender,
            to=destination.email or "",  # check() refused a destination without one
            delivery_id=note.delivery_id,
            case_id=note.case_id,
            language=note.language,
        )

    def preview(self, note: Note, destination: Destination) -> str:
        return self.message(note, destination).as_string()

    def deliver(self, note: Note, destination: Destination, now: float) -> Outcome:
        msg = self.message(note, destination)
        try:
            send(self.config, msg)
        except (smtplib.SMTPException, OSError) as exc:
            return classify(exc)
        return Outcome.ok(detail=msg["Message-ID"])


class CustomerEmailChannel(CustomerChannel):
    """Email to a customer: the same SMTP relay, the customer-facing sender
    (``CUSTOMER_EMAIL_FROM``), a Message-ID stable per customer message."""

    name = "email"
    address_field = "email"
    template_format = "email"

    @property
    def config(self) -> SmtpConfig:
        return self.settings["smtp"]

    def secrets(self) -> list[str]:
        return [self.config.password] if self.config.password else []

    def message(self, note: CustomerNote, address: str) -> EmailMessage:
        sender = self.settings.get("customer_sender") or self.config.sender
        return build_message(
            note, sender=sender, to=address, delivery_id=note.message_id, case_id=None, language=note.language
        )

    def preview(self, note: CustomerNote, address: str) -> str:
        return self.message(note, address).as_string()

    def deliver(self, note: CustomerNote, address: str, now: float) -> Outcome:
        msg = self.message(note, address)
        try:
            send(self.config, msg)
        except (smtplib.SMTPException, OSError) as exc:
            return classify(exc)
        return Outcome.ok(detail=msg["Message-ID"])


CHANNEL = EmailChannel
CUSTOMER_CHANNEL = CustomerEmailChannel
