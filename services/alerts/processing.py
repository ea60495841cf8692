"""The feedback path on the store, as the service's entrypoints run it: a batch of
events evaluated, due "no response" deadlines fired, customers' responses answered,
and the ``alert_raised`` messages announcing the alerts they raised.

The engine (services/alerts/engine.py) runs on the store's running state
(``store.state``) with the enabled rules indexed (``store.rules.rule_index()``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from itertools import chain

from services.alerts.engine import Engine, Outcome
from services.alerts.store import AlertStore
from services.common import settings
from services.common.mongo import as_stored
from services.common.overlap import run_together
from textanalysis.text import Analyzer


def evaluate_feedback(
    store: AlertStore, events: list[dict], now: datetime, analyzer: Analyzer | None = None
) -> Iterator[dict]:
    """Keep a batch of events in the history and evaluate it in delivery order (repeats
    attach, throttled matches are counted): the messages announcing its new alerts.
    ``analyzer``: the replica's text analysis (services/common/lexicon.py)."""
    index = store.rules.rule_index(analyzer)
    engine = Engine(store.state, analyzer)
    # the history is read by backtests and simulations, never by the evaluation: the
    # two go to the store together (services/common/overlap.py)
    _, outcomes = run_together(
        lambda: store.history.record(events, settings.get("ALERT_HISTORY_DAYS")),
        lambda: engine.process_many(index, events, now),
    )
    return chain(announcements(store, outcomes), storm_announcements(store, engine.storms))


def fire_due(store: AlertStore, now: datetime, analyzer: Analyzer | None = None) -> Iterator[dict]:
    """Raise the "no response within T" alerts whose deadline passed unanswered: the
    messages announcing them."""
    index = store.rules.rule_index(analyzer)
    engine = Engine(store.state, analyzer)
    outcomes = engine.fire_due(index, now)
    return chain(announcements(store, outcomes), storm_announcements(store, engine.storms))


def respond(store: AlertStore, customer_id: str, at: datetime) -> int:
    """Someone got in touch with the customer at ``at``: earlier surveys stop waiting.
    Idempotent: marking waiting deadlines answered twice changes nothing."""
    return Engine(store.state).respond(customer_id, at)


def announcements(store: AlertStore, outcomes: Iterable[Outcome]) -> Iterator[dict]:
    """The ``alert_raised`` message of each raised alert, in order: the alert just
    stored, or the stored one when it existed already (a retry after a crash;
    cases and profiles are idempotent). Attached and suppressed matches announce nothing."""
    for outcome in outcomes:
        if outcome.outcome != "raised":
            continue
        just_stored = outcome.alert if outcome.fresh else None  # a raised outcome holds its alert
        stored = (
            as_stored(just_stored) if just_stored is not None else store.alerts.get_alert(outcome.alert_id)
        )
        if stored is not None:
            yield alert_message(stored)


def storm_announcements(store: AlertStore, storms: Iterable[Outcome]) -> Iterator[dict]:
    """The ``alert_raised`` message of each storm alert (services/alerts/storm.py) this
    call stored: once per (rule, period) across replicas, whose inserts of the same id
    keep one. A storm alert found stored is announced again only when its tipping event
    is this call's (a redelivery of the batch that raised it, which may have stopped
    before announcing; the cases service takes the same alert once)."""
    for outcome in storms:
        if outcome.outcome != "storm" or outcome.alert is None:
            continue
        if outcome.fresh:
            yield alert_message(as_stored(outcome.alert))
            continue
        stored = store.alerts.get_alert(outcome.alert_id)
        if stored is not None and stored["storm"]["tipped_by"] == outcome.alert["storm"]["tipped_by"]:
            yield alert_message(stored)


def alert_message(alert: dict) -> dict:
    """The alert_raised payload for a stored alert."""
    return {
        "alert_id": alert["_id"],
        "dedup_key": alert.get("dedup", {}).get("key"),
        **{k: v for k, v in alert.items() if k not in STORE_ONLY},
    }


# what an alert document holds for the alerts service only (counts, markers, the
# throttle its rule had), not for the alert_raised message
STORE_ONLY = (
    "_id",
    "dedup",
    "last_seen",
    "last_seen_ts",
    "raised_ts",
    "count",
    "hits",
    "suppressed",
    "suppressed_hits",
    "throttle",
    "storm",
)
