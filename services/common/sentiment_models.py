"""The deployment's polarity models, learned from its customers' own scored comments.

The profiles service (which keeps every comment with its scores) retrains on a timer:
the weak labels of the last ``MODEL_TRAIN_DAYS`` of comments (NPS ≤ 6 / CSAT ≤ 2
negative, NPS ≥ 9 / CSAT 5 positive: ``textanalysis.sentiment_model``), 80 % to learn
from and 20 % held out to evaluate on. Each model that differs from the latest is
kept as a numbered version in the text analysis's database (``models``) with its
evaluation and whether it was put to use: a model is used only when its held-out split
has at least ``MODEL_MIN_HELD_OUT`` comments, both classes, and an accuracy of at least
``MODEL_MIN_ACCURACY``. Which version is in use is one pointer (``lexicon_meta``
``model``), and every change of it is kept (``model_activations``: who, when, why).

The model in use is part of each replica's analyzer (services/common/lexicon.py): a
change of the pointer bumps the lexicon revision and its change signal, so every
analysing service's replicas use (or stop using) it within CONFIG_MAX_STALENESS_SECONDS.
An admin lists the versions, activates any of them (a rollback), turns the model off,
or retrains now (``profiles`` RPCs, ``cxctl model …``).
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common.errors import BadRequest, NotFound
from services.common.lexicon import LexiconStore, checked_reason
from textanalysis import sentiment_model as sm

log = logging.getLogger(__name__)

MAX_LISTED = 100


class ModelStore:
    """Versions of the polarity model and the pointer to the one in use."""

    def __init__(self, lexicon: LexiconStore):
        self.lexicon = lexicon
        self.db = lexicon.db

    # reading -------------------------------------------------------------------------

    def active_number(self) -> int | None:
        doc = self.db.lexicon_meta.find_one({"_id": "model"}) or {}
        return doc.get("number")

    def versions(self, limit: int = 20) -> dict:
        """The newest versions (without their parameters), the one in use, and the
        latest changes of which one is in use."""
        limit = max(1, min(int(limit), MAX_LISTED))
        rows = list(self.db.models.find({}, {"body": 0}).sort("_id", DESCENDING).limit(limit))
        changes = list(self.db.model_activations.find({}).sort("_id", DESCENDING).limit(limit))
        return {"active": self.active_number(), "versions": rows, "activations": changes}

    # writing -------------------------------------------------------------------------

    def _next(self, counter: str) -> int:
        doc = self.db.lexicon_meta.find_one_and_update(
            {"_id": counter}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return doc["n"]

    def record(
        self, model: sm.PolarityModel, window: dict, actor: str, min_held_out: int, min_accuracy: float
    ) -> dict:
        """Keep ``model`` (with its evaluation) as a new version unless it equals the latest,
        and put it to use when it is worth it (``sentiment_model.worth_using``)."""
        latest = self.db.models.find_one({}, {"body": 0}, sort=[("_id", DESCENDING)])
        if latest is not None and latest["model_version"] == model.version:
            return {"changed": False, "number": latest["_id"], "model_version": model.version}
        use, why = sm.worth_using(model.evaluation, min_held_out, min_accuracy)
        number = self._next("model_versions")
        self.db.models.insert_one(
            {
                "_id": number,
                "model_version": model.version,
                "trained_at": utcnow(),
                "by": actor,
                "window": window,
                "evaluation": model.evaluation,
                "used": use,
                "decision": why,
                "body": model.to_json(),
            }
        )
        if use:
            self._point(number, actor, f"trained: {why}")
        return {
            "changed": True,
            "number": number,
            "model_version": model.version,
            "used": use,
            "decision": why,
        }

    def activate(self, number: int | None, actor: str, reason: Any) -> dict:
        """Use version ``number`` (a rollback to an earlier one, or a model the floor kept
        out), or none (``None``: the lexicon alone)."""
        reason = checked_reason(reason)
        if number is not None:
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise BadRequest(f"number: a model version number ≥ 1, got {number!r}")
            if self.db.models.count_documents({"_id": number}, limit=1) == 0:
                raise NotFound(f"model version {number}")
        return self._point(number, actor, reason)

    def _point(self, number: int | None, actor: str, reason: str) -> dict:
        before = self.active_number()
        self.db.lexicon_meta.update_one({"_id": "model"}, {"$set": {"number": number}}, upsert=True)
        change = self._next("model_activation_ids")
        at = utcnow()
        self.db.model_activations.insert_one(
            {"_id": change, "from": before, "to": number, "by": actor, "at": at, "reason": reason}
        )
        self.lexicon.cache.bump()  # every replica's analyzer follows
        return {"active": number, "previous": before, "by": actor, "reason": reason}

    def claim_training(self, period: float, holder: str) -> bool:
        """One replica per period retrains: an atomic lease on ``lexicon_meta`` ``training``."""
        now, token = time.time(), uuid.uuid4().hex
        try:
            doc = self.db.lexicon_meta.find_one_and_update(
                {"_id": "training", "until": {"$lt": now}},
                {"$set": {"until": now + period * 0.9, "holder": holder, "token": token}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError:
            return False  # another replica holds it for this period
        # (a server may also answer a held lease with no document rather than the error)
        return doc is not None and doc.get("token") == token


def training_window(now: datetime, days: float) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now
