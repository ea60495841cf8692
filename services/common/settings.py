"""Configuration keys and their defaults.

Values come from the Nameko config file (``deploy/config.yaml``, which reads
environment variables with ``${VAR:default}``); code reads them only here.
"""

from __future__ import annotations

from nameko import config

DEFAULTS = {
    "AMQP_URI": "pyamqp://guest:guest@127.0.0.1:5672/",
    "MONGO_URI": "mongodb://127.0.0.1:27017/",
    # Each service owns one database: <prefix><service name>.
    "MONGO_DB_PREFIX": "cx_",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_PORT": 8025,
    "SMTP_SECURITY": "none",  # none | starttls | ssl
    "SMTP_USER": "",
    "SMTP_PASSWORD": "",
    "SMTP_FROM": "CX Alerts <cx-alerts@example.com>",
    "SMTP_TIMEOUT": 10,
    "CONSOLE_URL": "http://127.0.0.1:8000",
    # Failed handler runs before a message is dead-lettered as poison.
    "MAX_DELIVERY_ATTEMPTS": 5,
    # Pause before requeueing when the store is unreachable.
    "STORE_RETRY_DELAY": 1.0,
    # Gateway: console sessions, cookies, login rate limit (per user and per client IP).
    "GATEWAY_SESSION_TTL": 8 * 3600.0,
    "GATEWAY_COOKIE_SECURE": False,  # set true behind TLS
    "LOGIN_WINDOW_SECONDS": 900,
    "LOGIN_LIMIT_PER_USER": 10,
    "LOGIN_LIMIT_PER_IP": 50,
}


def get(key: str):
    value = config.get(key)
    if value is None or value == "":
        return DEFAULTS.get(key, value)
    default = DEFAULTS.get(key)
    # Environment substitution yields strings; keep the default's type.
    if isinstance(default, bool):
        return str(value).lower() in ("1", "true", "yes", "on")
    if isinstance(default, int) and not isinstance(value, int):
        return int(value)
    if isinstance(default, float) and not isinstance(value, float):
        return float(value)
    return value
