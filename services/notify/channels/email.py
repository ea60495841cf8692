"""Email over SMTP: plain-text and HTML parts, stable Message-ID, one thread per case."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from services.notify.render import Rendered

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
    rendered: Rendered, *, sender: str, to: str, delivery_id: str, case_id: str | None, language: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
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
