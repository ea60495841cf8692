"""Settings of the notify service: its keys and their defaults (read with
``services.common.settings.get``; overridden in ``deploy/config.yaml`` or the environment)."""

from services.common import settings

DEFAULTS = settings.declare(
    {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": 8025,
        "SMTP_SECURITY": "none",  # none | starttls | ssl
        "SMTP_USER": "",
        "SMTP_FROM": "CX Alerts <cx-alerts@example.com>",
        "SMTP_TIMEOUT": 10,
        # Notification delivery (services/notify/delivery.py).
        "NOTIFY_MAX_ATTEMPTS": 5,
        "NOTIFY_BACKOFF_BASE": 5.0,
        "NOTIFY_BACKOFF_CAP": 900.0,
        "NOTIFY_LEASE_SECONDS": 60.0,
        "NOTIFY_FALLBACK_CHANNEL": "email",  # where IM deliveries go after failing for good; "none" for none
        "NOTIFY_URGENT_LEVELS": "P1",  # comma-separated levels that bypass quiet hours
        "NOTIFY_HTTP_TIMEOUT": 10.0,
        # Deliveries of one batch of notification requests sent at once (the batch's worker).
        "NOTIFY_SEND_CONCURRENCY": 10,
    }
)
