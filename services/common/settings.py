"""Configuration keys and their defaults.

Values come from the Nameko config file (``deploy/config.yaml``, which reads
environment variables with ``${VAR:default}``); code reads them only here.
"""

from __future__ import annotations

from nameko import config

from contracts.feedback import MAX_BODY_BYTES

DEFAULTS = {
    "AMQP_URI": "pyamqp://guest:guest@127.0.0.1:5672/",
    # classic | quorum: the type of every durable queue the services consume from
    # (quorum on a RabbitMQ cluster; see docs/scale.md).
    "AMQP_QUEUE_TYPE": "classic",
    # Per-customer ordering (services/common/partitions.py): 0 = one shared queue
    # per service (competing consumers, no order); P > 0 = P partition queues per
    # service behind the ingest router. Lanes (per-message feedback_consumer only; the
    # services' batch entrypoints keep order by customer themselves): parallel customers per replica
    # (0 = the worker pool size). A replica subscribes to partitions it does not
    # own only after the standby delay.
    "FEEDBACK_PARTITIONS": 0,
    "FEEDBACK_LANES": 0,
    "FEEDBACK_STANDBY_DELAY": 5.0,
    "REPLICA_INDEX": 0,
    "REPLICA_COUNT": 1,
    # Batch entrypoints (services/common/batching.py): messages per batch, how long a
    # batch smaller than that waits for company while another batch of its entrypoint
    # runs (ms; with none running a message starts at once), batches of one entrypoint
    # running at once. The prefetch window is BATCH_SIZE × (BATCH_CONCURRENCY + 1).
    "BATCH_SIZE": 50,
    "BATCH_WAIT_MS": 2.0,
    "BATCH_CONCURRENCY": 2,
    # Services whose partition topology the ingest router declares before routing.
    "FEEDBACK_CONSUMERS": "alerts,profiles",
    # Unacked messages the router holds (it forwards them one by one, in order).
    "ROUTER_PREFETCH": 200,
    # Liveness/readiness HTTP (services/common/health.py); port 0 = off.
    "HEALTH_ADDRESS": "0.0.0.0",
    "HEALTH_PORT": 0,
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
    # Delay before retry n of a failed handler: base × 4^(n−1) seconds, capped.
    "RETRY_BACKOFF_BASE": 2.0,
    "RETRY_BACKOFF_CAP": 300.0,
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
    # Configuration caches (ConfigCache: directories, policies, the rule index) re-read
    # their revision when another replica's change signal arrives (cx.config), and at
    # most this often otherwise: the bound on staleness when a signal is lost.
    "CONFIG_MAX_STALENESS_SECONDS": 5.0,
    # Pause before requeueing when the store is unreachable.
    "STORE_RETRY_DELAY": 1.0,
    # How long a worker holds a message's idempotency lease; a copy of the message
    # waits this long before taking over from a worker that died mid-way.
    "INBOX_LEASE_SECONDS": 30.0,
    # How often the alerts service looks for "no response within T" deadlines.
    "ALERT_TIMER_SECONDS": 30,
    # Days the alerts service keeps a compact copy of each evaluated event (backtests).
    "ALERT_HISTORY_DAYS": 90,
    # How long alerts.simulate waits for cases.simulate_alert / notify.simulate.
    "ALERT_SIMULATE_TIMEOUT_SECONDS": 10,
    # Profiles: days an event's marker stays in its profile (it makes a late copy of the
    # event count nothing; the inbox settles redeliveries long before).
    "PROFILE_MARKER_DAYS": 30.0,
    # Cases: the topic part of the one-open-case-per-customer key (comma-separated:
    # rule, touchpoint, channel, level) and how long a resolved case reopens on a new alert.
    "CASE_OPEN_KEY": "rule",
    "CASE_REOPEN_WINDOW_HOURS": 72.0,
    # Root-cause categories a resolution must name (comma-separated).
    "CASE_ROOT_CAUSES": "product_defect,delivery_delay,service_attitude,billing_error,"
    "process_gap,customer_misunderstanding,other",
    # Escalation: how often the sweep looks for due steps, and how long a claim holds.
    "ESCALATION_SWEEP_SECONDS": 5.0,
    "ESCALATION_LEASE_SECONDS": 30.0,
    # Cases: how often agent loads are recounted from the open cases (also at start),
    # and how long after a charge or a load move an agent is taken as still moving
    # (the recount leaves them for its next run). It must exceed the longest time a
    # live worker takes from charging a pick to storing the case, or from storing a
    # case to moving its load (a few store round trips; each gives up after 5 s), plus
    # the clock difference between replicas (the times are each worker's own).
    "LOAD_RECOUNT_SECONDS": 3600.0,
    "LOAD_SETTLE_SECONDS": 120.0,
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
    # RPC argument limits (services/common/rpc.py): the payload's size, entries in one
    # list or object, characters in one string, nesting depth.
    "RPC_MAX_BYTES": 4 * 1024 * 1024,
    "RPC_MAX_ITEMS": 10_000,
    "RPC_MAX_STRING": 200_000,
    "RPC_MAX_DEPTH": 32,
    # AMQP message limits (services/common/messaging.py): a bigger message is
    # dead-lettered with its size as the reason, before it is parsed.
    "FEEDBACK_MAX_BYTES": MAX_BODY_BYTES,  # the contract's own ceiling (256 KiB)
    "EVENT_MAX_BYTES": 1024 * 1024,
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
