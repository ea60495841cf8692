"""Dependency providers of the notify service: templates and the SMTP mailer."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from services.common import settings
from services.notify.channels import email
from services.notify.render import Renderer


class Templates(DependencyProvider):
    """Injects the sandboxed template renderer (templates loaded once per container)."""

    def setup(self) -> None:
        self.renderer = Renderer()

    def get_dependency(self, worker_ctx) -> Renderer:
        return self.renderer


class Mailer:
    def __init__(self, config: email.SmtpConfig):
        self.config = config

    def send(self, msg) -> None:
        email.send(self.config, msg)


class SmtpMailer(DependencyProvider):
    """Injects a mailer configured from SMTP_* settings."""

    def setup(self) -> None:
        self.mailer = Mailer(
            email.SmtpConfig(
                host=settings.get("SMTP_HOST"),
                port=settings.get("SMTP_PORT"),
                security=settings.get("SMTP_SECURITY"),
                user=settings.get("SMTP_USER"),
                password=settings.get("SMTP_PASSWORD"),
                sender=settings.get("SMTP_FROM"),
                timeout=settings.get("SMTP_TIMEOUT"),
            )
        )

    def get_dependency(self, worker_ctx) -> Mailer:
        return self.mailer
