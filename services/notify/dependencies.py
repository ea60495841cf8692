"""Dependency providers of the notify service: templates and the channels."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from services.common import settings
from services.notify.channels import CHANNELS
from services.notify.channels.base import Channel
from services.notify.channels.email import SmtpConfig
from services.notify.policy import Policy
from services.notify.render import Renderer


class Templates(DependencyProvider):
    """Injects the sandboxed template renderer (file templates loaded once per
    container; admin overrides are loaded from the store at start and on save)."""

    def setup(self) -> None:
        self.renderer = Renderer()

    def get_dependency(self, worker_ctx) -> Renderer:
        return self.renderer


def smtp_config() -> SmtpConfig:
    return SmtpConfig(
        host=settings.get("SMTP_HOST"),
        port=settings.get("SMTP_PORT"),
        security=settings.get("SMTP_SECURITY"),
        user=settings.get("SMTP_USER"),
        password=settings.get("SMTP_PASSWORD"),
        sender=settings.get("SMTP_FROM"),
        timeout=settings.get("SMTP_TIMEOUT"),
    )


class Channels(DependencyProvider):
    """Injects every channel (``channels/<name>/``), configured from settings."""

    def setup(self) -> None:
        config = {"smtp": smtp_config(), "timeout": settings.get("NOTIFY_HTTP_TIMEOUT")}
        self.channels = {name: cls(config) for name, cls in CHANNELS.items()}

    def get_dependency(self, worker_ctx) -> dict[str, Channel]:
        return self.channels


def policy_from_settings() -> Policy:
    fallback_to = settings.get("NOTIFY_FALLBACK_CHANNEL")
    return Policy(
        max_attempts=settings.get("NOTIFY_MAX_ATTEMPTS"),
        backoff_base=settings.get("NOTIFY_BACKOFF_BASE"),
        backoff_cap=settings.get("NOTIFY_BACKOFF_CAP"),
        lease=settings.get("NOTIFY_LEASE_SECONDS"),
        fallback={} if fallback_to == "none" else {n: fallback_to for n in CHANNELS if n != fallback_to},
        urgent_levels=tuple(s.strip() for s in settings.get("NOTIFY_URGENT_LEVELS").split(",") if s.strip()),
        concurrency=settings.get("NOTIFY_SEND_CONCURRENCY"),
    )


class DeliveryPolicy(DependencyProvider):
    """Injects the retry / fallback / quiet-hours policy read from settings."""

    def setup(self) -> None:
        self.policy = policy_from_settings()

    def get_dependency(self, worker_ctx) -> Policy:
        return self.policy
