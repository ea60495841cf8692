"""Retraining the polarity model on the customers' own scored comments, as the profiles
service's timer and its ``retrain_sentiment_model`` RPC run it
(services/common/sentiment_models.py says what is kept and when a model is used)."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.common import settings
from services.common.sentiment_models import ModelStore, training_window
from services.profiles.queries import Queries
from textanalysis import sentiment_model as sm

REPLICA = uuid.uuid4().hex[:12]  # names this process in the training lease


def retrain(queries: Queries, models: ModelStore, now: datetime, actor: str) -> dict:
    """Train on the comments of the last MODEL_TRAIN_DAYS, evaluate on the held-out split,
    keep the version and use it when it reaches the floor."""
    since, until = training_window(now, float(settings.get("MODEL_TRAIN_DAYS")))
    events = queries.scored_comments(since, until, int(settings.get("MODEL_TRAIN_MAX_COMMENTS")))
    model = sm.train_on_stream(events, trained_at=now.isoformat())
    window = {"since": since, "until": until, "comments": len(events)}
    return models.record(
        model,
        window,
        actor,
        int(settings.get("MODEL_MIN_HELD_OUT")),
        float(settings.get("MODEL_MIN_ACCURACY")),
    )


def scheduled(queries: Queries, models: ModelStore, now: datetime) -> dict | None:
    """The timer's run: retrain unless another replica did in this period (None)."""
    if not models.claim_training(float(settings.get("MODEL_RETRAIN_SECONDS")), REPLICA):
        return None
    return retrain(queries, models, now, "timer")
