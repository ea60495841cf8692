"""Settings of the profiles service: its keys and their defaults (read with
``services.common.settings.get``; overridden in ``deploy/config.yaml`` or the environment)."""

from services.common import settings

DEFAULTS = settings.declare(
    {
        # Profiles: days an event's marker stays in its profile (it makes a late copy of the
        # event count nothing; the inbox settles redeliveries long before).
        "PROFILE_MARKER_DAYS": 30.0,
        # How long an idle profiles consumer lets a batch gather before it runs (ms;
        # services/common/batching.py): nobody waits on a profile write, and run at once
        # its ~17 store commands per lone event competed with the alert path on the
        # shared store and cores (bench/hops.py: alert stored 7 → 15 ms, notify's first
        # command 17 → 35 ms after the publish when profiles ran beside it).
        "PROFILE_BATCH_LINGER_MS": 50.0,
        # The polarity model learned from the customers' scored comments
        # (services/common/sentiment_models.py): how often one replica retrains, on how
        # many days of comments (at most MODEL_TRAIN_MAX_COMMENTS, the newest), and the
        # floor a new model's held-out evaluation must reach to be put to use.
        "MODEL_RETRAIN_SECONDS": 21600.0,
        "MODEL_TRAIN_DAYS": 90.0,
        "MODEL_TRAIN_MAX_COMMENTS": 50000,
        "MODEL_MIN_HELD_OUT": 50,
        "MODEL_MIN_ACCURACY": 0.8,
    }
)
