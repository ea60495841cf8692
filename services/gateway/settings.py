"""Settings of the gateway (console and HTTP API): its keys and their defaults (read with
``services.common.settings.get``; overridden in ``deploy/config.yaml`` or the environment)."""

from services.common import settings

DEFAULTS = settings.declare(
    {
        # Gateway: console sessions, cookies, login throttle (services/gateway/throttle.py):
        # per (user name, client IP) and per client IP, the first LOGIN_FREE_ATTEMPTS(_PER_CLIENT)
        # attempts go at once, then each waits LOGIN_DELAY_SECONDS after the one before, doubled
        # with every further attempt up to LOGIN_MAX_DELAY_SECONDS; a success clears its user's
        # count on that client; counts are forgotten LOGIN_FORGET_SECONDS after the last attempt.
        "GATEWAY_SESSION_TTL": 8 * 3600.0,
        "GATEWAY_COOKIE_SECURE": False,  # set true behind TLS
        "LOGIN_FREE_ATTEMPTS": 5,
        "LOGIN_FREE_ATTEMPTS_PER_CLIENT": 100,
        "LOGIN_DELAY_SECONDS": 1.0,
        "LOGIN_MAX_DELAY_SECONDS": 900.0,
        "LOGIN_FORGET_SECONDS": 3600.0,
        # Gateway input limits (docs/security.md): request bodies above this are refused
        # with 413; each client (a signed-in user, else an IP address) may make
        # GATEWAY_RATE_PER_MINUTE requests per minute in bursts of GATEWAY_RATE_BURST,
        # then gets 429 with Retry-After (per gateway replica; 0 turns it off).
        "HTTP_MAX_BODY_BYTES": 8 * 1024 * 1024,
        "GATEWAY_RATE_PER_MINUTE": 600,
        "GATEWAY_RATE_BURST": 120,
        # The role boards (services/gateway/boards.py): the days of a period are those of
        # BOARD_TIMEZONE; the journey board shows JOURNEY_TOUCHPOINTS first, in this order
        # (comma-separated), then any other touchpoint seen in the period.
        "BOARD_TIMEZONE": "Asia/Shanghai",
        "JOURNEY_TOUCHPOINTS": "onboarding,store_visit,online_support,billing,delivery,"
        "installation,repair,after_sales",
        # The console's queue (docs/console.md): how often an open queue page asks for
        # changes, and how close to its SLA deadline a case is "breaching soon".
        "CONSOLE_POLL_SECONDS": 15.0,
        "CONSOLE_BREACHING_SOON_MINUTES": 60,
        # The vendors' callbacks (services/gateway/vendor_callbacks.py, docs/notify.md "Delivery
        # receipts and SMS replies"): the SMS vendors sign nothing, so their callback URLs carry
        # this key (/callbacks/sms/<vendor>/<key>/report|reply; at least 16 characters; "" refuses
        # them all); the WeChat official account's server token (服务器配置 Token; "" refuses).
        "SMS_CALLBACK_KEY": "",
        "WECHAT_OA_SERVER_TOKEN": "",
    }
)
