"""Settings of the alerts service: its keys and their defaults (read with
``services.common.settings.get``; overridden in ``deploy/config.yaml`` or the environment)."""

from services.common import settings

DEFAULTS = settings.declare(
    {
        # How often the alerts service looks for "no response within T" deadlines.
        "ALERT_TIMER_SECONDS": 30,
        # Days the alerts service keeps a compact copy of each evaluated event (backtests).
        "ALERT_HISTORY_DAYS": 90,
        # How long alerts.simulate waits for cases.simulate_alert / notify.simulate.
        "ALERT_SIMULATE_TIMEOUT_SECONDS": 10,
    }
)
