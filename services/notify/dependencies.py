"""Dependency providers of the notify service: templates and the channels."""

from __future__ import annotations

from nameko.extensions import DependencyProvider

from services.common import settings
from services.common.privacy import register_secret
from services.notify.channels import CHANNELS, CUSTOMER_CHANNELS
from services.notify.channels.base import Channel, CustomerChannel
from services.notify.channels.email import SmtpConfig
from services.notify.channels.sms import SmsConfig, TencentConfig, vendor_names
from services.notify.channels.wechat_oa import Tokens, WechatConfig
from services.notify.customers.decision import Rules, parse_quiet_hours
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


def pairs(value: str, name: str) -> dict[str, str]:
    """``"a=x, b=y"`` → ``{"a": "x", "b": "y"}`` (settings that map keys to vendor ids)."""
    out = {}
    for item in (value or "").split(","):
        if not item.strip():
            continue
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise ValueError(f"{name}: key=value pairs separated by commas expected, got {item.strip()!r}")
        out[key.strip()] = val.strip()
    return out


def customer_channel_config() -> dict:
    """What the customer channels are built from (settings ``CUSTOMER_*``, ``SMTP_*``)."""
    timeout = settings.get("NOTIFY_HTTP_TIMEOUT")
    return {
        "smtp": smtp_config(),
        "customer_sender": settings.get("CUSTOMER_EMAIL_FROM"),
        "sms": SmsConfig(
            endpoint=settings.get("CUSTOMER_SMS_ENDPOINT"),
            access_key_id=settings.get("CUSTOMER_SMS_ACCESS_KEY_ID"),
            access_key_secret=settings.get("CUSTOMER_SMS_ACCESS_KEY_SECRET"),
            sign_name=settings.get("CUSTOMER_SMS_SIGN_NAME"),
            region=settings.get("CUSTOMER_SMS_REGION"),
            templates=pairs(settings.get("CUSTOMER_SMS_TEMPLATES"), "CUSTOMER_SMS_TEMPLATES"),
            timeout=timeout,
        ),
        "sms_vendors": vendor_names(settings.get("CUSTOMER_SMS_VENDORS")),
        "sms_tencent": TencentConfig(
            endpoint=settings.get("CUSTOMER_SMS_TENCENT_ENDPOINT"),
            secret_id=settings.get("CUSTOMER_SMS_TENCENT_SECRET_ID"),
            secret_key=settings.get("CUSTOMER_SMS_TENCENT_SECRET_KEY"),
            sdk_app_id=settings.get("CUSTOMER_SMS_TENCENT_SDK_APP_ID"),
            sign_name=settings.get("CUSTOMER_SMS_TENCENT_SIGN_NAME"),
            region=settings.get("CUSTOMER_SMS_TENCENT_REGION"),
            templates=pairs(settings.get("CUSTOMER_SMS_TENCENT_TEMPLATES"), "CUSTOMER_SMS_TENCENT_TEMPLATES"),
            timeout=timeout,
        ),
        "wechat": WechatConfig(
            api=settings.get("CUSTOMER_WECHAT_API").rstrip("/"),
            appid=settings.get("CUSTOMER_WECHAT_APPID"),
            secret=settings.get("CUSTOMER_WECHAT_SECRET"),
            templates=pairs(settings.get("CUSTOMER_WECHAT_TEMPLATES"), "CUSTOMER_WECHAT_TEMPLATES"),
            timeout=timeout,
        ),
    }


def customer_channels(config: dict, tokens: Tokens) -> dict[str, CustomerChannel]:
    """Every customer channel over ``config``, WeChat's tokens kept in ``tokens``."""
    return {name: cls({**config, "tokens": tokens}) for name, cls in CUSTOMER_CHANNELS.items()}


def contact_rules() -> Rules:
    return Rules(
        fatigue_limit=settings.get("CUSTOMER_FATIGUE_LIMIT"),
        fatigue_days=settings.get("CUSTOMER_FATIGUE_DAYS"),
        quiet_hours=parse_quiet_hours(settings.get("CUSTOMER_QUIET_HOURS")),
        default_timezone=settings.get("CUSTOMER_DEFAULT_TIMEZONE"),
    )


class CustomerContact(DependencyProvider):
    """Injects what customer messages need from settings, read once per container:
    ``{"channels": config, "rules": Rules}`` (the channels themselves are built per
    worker over the store's token cache)."""

    def setup(self) -> None:
        self.value = {"channels": customer_channel_config(), "rules": contact_rules()}
        for secret in (
            settings.get("CUSTOMER_SMS_ACCESS_KEY_SECRET"),
            settings.get("CUSTOMER_SMS_TENCENT_SECRET_KEY"),
            settings.get("CUSTOMER_WECHAT_SECRET"),
        ):
            if secret:
                register_secret(secret)

    def get_dependency(self, worker_ctx) -> dict:
        return self.value
