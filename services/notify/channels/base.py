"""What every channel implements, and the values passed between the pipeline and a channel.

A channel is one folder under ``channels/`` exporting ``CHANNEL`` (a ``Channel``
subclass). It declares:

* ``Handle``: the marshmallow schema of a recipient's address on that channel
  (webhook URL and secret, user id, mobile ...), validated when the recipients
  directory is applied;
* ``template_format``: which template dialect renders its body (``md``, ``slack``,
  ``text``, ``email``);
* ``rate``: its documented send rate per destination;
* ``deliver(note, destination, now)``: send once and classify the outcome as
  delivered, retry (transient) or failed (permanent). It never sleeps and never
  retries itself: the delivery pipeline owns retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from marshmallow import RAISE, Schema

from services.common.privacy import url_secrets

DELIVERED = "delivered"
RETRY = "retry"
FAILED = "failed"


@dataclass(frozen=True)
class Note:
    """One rendered notification, channel-neutral apart from ``body``'s markup."""

    delivery_id: str
    kind: str
    level: str
    language: str
    title: str
    body: str  # in the channel's template dialect (markdown, mrkdwn, plain text)
    text: str  # plain text
    html: str | None = None
    url: str | None = None
    case_id: str | None = None
    facts: dict = field(default_factory=dict)  # structured context (generic webhook)


@dataclass(frozen=True)
class Destination:
    """Where a note goes on one channel, and whom to @mention there."""

    handle: dict
    user_ids: tuple[str, ...] = ()
    mobiles: tuple[str, ...] = ()
    email: str | None = None


@dataclass(frozen=True)
class Outcome:
    status: str  # delivered | retry | failed
    error: str | None = None
    retry_after: float | None = None  # seconds the vendor asked us to wait
    http_status: int | None = None
    detail: str | None = None  # a vendor reference (message id, response excerpt)

    @classmethod
    def ok(cls, detail: str | None = None, http_status: int | None = None) -> Outcome:
        return cls(DELIVERED, detail=detail, http_status=http_status)

    @classmethod
    def retry(cls, error: str, retry_after: float | None = None, http_status: int | None = None) -> Outcome:
        return cls(RETRY, error=error, retry_after=retry_after, http_status=http_status)

    @classmethod
    def failed(cls, error: str, http_status: int | None = None) -> Outcome:
        return cls(FAILED, error=error, http_status=http_status)


@dataclass(frozen=True)
class Rate:
    """A documented send rate: ``per_minute`` sustained, ``burst`` at once."""

    per_minute: float
    burst: int
    source: str = ""


class HandleSchema(Schema):
    class Meta:
        unknown = RAISE


class NotConfigured(Exception):
    """The destination lacks what this channel needs (no webhook, no address)."""


class Channel:
    name: ClassVar[str]
    Handle: ClassVar[type[Schema]] = HandleSchema
    template_format: ClassVar[str] = "md"
    rate: ClassVar[Rate | None] = None
    # The part of the handle that identifies a destination for rate limiting.
    destination_field: ClassVar[str] = "webhook"
    # The part of a person's handle that names them for an @mention (Destination.user_ids).
    mention_field: ClassVar[str] = "user_id"

    def __init__(self, settings: dict | None = None):
        self.settings = settings or {}

    # Handle fields that authenticate the destination (never shown in errors or logs).
    secret_fields: ClassVar[tuple[str, ...]] = ("secret", "token", "key", "access_token")
    url_fields: ClassVar[tuple[str, ...]] = ("webhook", "url")

    def secrets(self, destination: Destination) -> list[str]:
        """The values an error text or a log line must never show for ``destination``:
        signing secrets, tokens, and the authenticating parts of webhook URLs."""
        out: list[str] = []
        for name, value in destination.handle.items():
            if isinstance(value, str) and value:
                if name in self.url_fields:
                    out += url_secrets(value)
                elif name in self.secret_fields:
                    out.append(value)
        return out

    def destination_key(self, destination: Destination) -> str:
        return str(destination.handle.get(self.destination_field) or destination.email or "")

    def rate_for(self, destination: Destination) -> Rate | None:
        """The send rate to ``destination``: the channel's documented one, unless the
        channel lets a handle state its own (the generic webhook's receiver knows its
        capacity; a vendor robot's limit is the vendor's)."""
        return self.rate

    def check(self, destination: Destination) -> None:
        """Raise NotConfigured when ``destination`` cannot be used."""
        if not destination.handle.get(self.destination_field):
            raise NotConfigured(f"no {self.name} {self.destination_field}")

    def preview(self, note: Note, destination: Destination) -> dict | str | None:
        """What the vendor would receive for ``note`` (secrets and signatures left out)."""
        return None

    def deliver(self, note: Note, destination: Destination, now: float) -> Outcome:  # pragma: no cover
        raise NotImplementedError


# -- customer channels ------------------------------------------------------------------
# Messages TO CUSTOMERS (follow-up surveys, case replies) go through their own channels:
# the customer is no person in the recipients directory, an address comes from their
# profile, and the vendors differ (SMS and WeChat official-account templates are
# registered with the vendor). A channel folder exports ``CUSTOMER_CHANNEL`` for them.


@dataclass(frozen=True)
class CustomerNote:
    """One rendered customer message."""

    message_id: str
    purpose: str
    language: str
    subject: str
    text: str
    html: str | None = None
    url: str | None = None
    case_id: str | None = None
    params: dict = field(default_factory=dict)  # the vendor template's variables (SMS)
    timezone: str = "Asia/Shanghai"  # the customer's: times shown in the message


class CustomerChannel:
    """Sends a ``CustomerNote`` to one address; classifies the answer like ``Channel``."""

    name: ClassVar[str]
    address_field: ClassVar[str]  # phone | email | wechat_openid (the customer's contact)
    template_format: ClassVar[str] = "text"  # text | email

    def __init__(self, settings: dict | None = None):
        self.settings = settings or {}

    def missing(self) -> str | None:
        """What this deployment lacks to use the channel (credentials, template ids), or None."""
        return None

    def secrets(self) -> list[str]:
        return []

    def preview(self, note: CustomerNote, address: str) -> dict | str | None:
        return None

    def deliver(self, note: CustomerNote, address: str, now: float) -> Outcome:  # pragma: no cover
        raise NotImplementedError
