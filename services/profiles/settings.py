"""Settings of the profiles service: its keys and their defaults (read with
``services.common.settings.get``; overridden in ``deploy/config.yaml`` or the environment)."""

from services.common import settings

DEFAULTS = settings.declare(
    {
        # Profiles: days an event's marker stays in its profile (it makes a late copy of the
        # event count nothing; the inbox settles redeliveries long before).
        "PROFILE_MARKER_DAYS": 30.0,
    }
)
