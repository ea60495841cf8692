"""Settings of the ingest router: its keys and their defaults (read with
``services.common.settings.get``; overridden in ``deploy/config.yaml`` or the environment)."""

from services.common import settings

DEFAULTS = settings.declare(
    {
        # Services whose partition topology the ingest router declares before routing,
        # each ``name`` (binds feedback.#) or ``name:routing key`` (binds only that key).
        "FEEDBACK_CONSUMERS": "alerts,profiles,cases:feedback.*.followup",
        # Unacked messages the router holds (it forwards them one by one, in order).
        "ROUTER_PREFETCH": 200,
    }
)
