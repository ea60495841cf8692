"""Configuration: the shared keys and the one loader.

Values come from the Nameko config file (``deploy/config.yaml``, which reads
environment variables with ``${VAR:default}``); code reads them only through ``get``.
Each service declares its own keys and defaults in its ``settings.py`` (imported by
its package, so they are declared before any of its code runs); the keys here are
those the shared code reads or more than one service needs. Reading a key nobody
declared is a mistake, refused at once.
"""

from __future__ import annotations

from nameko import config

from contracts.feedback import MAX_BODY_BYTES

SHARED = {
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
    # Liveness/readiness HTTP (services/common/health.py); port 0 = off.
    "HEALTH_ADDRESS": "0.0.0.0",
    "HEALTH_PORT": 0,
    "MONGO_URI": "mongodb://127.0.0.1:27017/",
    # Each service owns one database: <prefix><service name>.
    "MONGO_DB_PREFIX": "cx_",
    "SMTP_PASSWORD": "",
    "CONSOLE_URL": "http://127.0.0.1:8000",
    # The HMAC key of follow-up survey links (cases signs them, the gateway checks them;
    # services/common/survey_links.py). Empty: no survey can be sent or answered.
    "SURVEY_SECRET": "",
    # Failed handler runs before a message is dead-lettered as poison.
    "MAX_DELIVERY_ATTEMPTS": 5,
    # Delay before retry n of a failed handler: base × 4^(n−1) seconds, capped.
    "RETRY_BACKOFF_BASE": 2.0,
    "RETRY_BACKOFF_CAP": 300.0,
    # Configuration caches (ConfigCache: directories, policies, the rule index) re-read
    # their revision when another replica's change signal arrives (cx.config), and at
    # most this often otherwise: the bound on staleness when a signal is lost.
    "CONFIG_MAX_STALENESS_SECONDS": 5.0,
    # Pause before requeueing when the store is unreachable.
    "STORE_RETRY_DELAY": 1.0,
    # How long a worker holds a message's idempotency lease; a copy of the message
    # waits this long before taking over from a worker that died mid-way.
    "INBOX_LEASE_SECONDS": 30.0,
    # Root-cause categories a resolution must name (comma-separated).
    "CASE_ROOT_CAUSES": "product_defect,delivery_delay,service_attitude,billing_error,"
    "process_gap,customer_misunderstanding,other",
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

# every key declared so far (the shared ones, then each imported service's own)
DEFAULTS: dict = dict(SHARED)


def declare(defaults: dict) -> dict:
    """Declare a service's own keys and their defaults (its settings.py). A key may be
    declared once: two services wanting one key share it in ``SHARED``."""
    for key, value in defaults.items():
        if key in DEFAULTS and DEFAULTS[key] != value:
            raise ValueError(f"setting {key} is declared twice with different defaults")
    DEFAULTS.update(defaults)
    return defaults


def get(key: str):
    if key not in DEFAULTS:
        raise KeyError(f"{key} is not a declared setting (SHARED here, or a service's settings.py)")
    value = config.get(key)
    default = DEFAULTS[key]
    if value is None or value == "":
        return default
    # Environment substitution yields strings; keep the default's type.
    if isinstance(default, bool):
        return str(value).lower() in ("1", "true", "yes", "on")
    if isinstance(default, int) and not isinstance(value, int):
        return int(value)
    if isinstance(default, float) and not isinstance(value, float):
        return float(value)
    return value
