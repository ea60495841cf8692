"""The settling of matches (``Settlement`` in services/alerts/engine.py), step by step on
in-memory state: which keys a batch claims in its one write, who owns a key, what a
throttle refusal undoes, and what storing the raised alerts does."""

from datetime import timedelta

from services.alerts.engine import Engine, Keyed, Match, Settlement
from services.alerts.facts import Facts
from services.alerts.memory import MemoryState
from tests.unit.test_engine import LOW_NPS, NOW, T0, ev, rules


class Recording(MemoryState):
    """MemoryState that notes each settling write (name, first argument)."""

    def __init__(self):
        super().__init__()
        self.calls: list[tuple[str, object]] = []

    def _note(self, name, first):
        self.calls.append((name, first))

    def claim_new_dedups(self, claims):
        self._note("claim_new_dedups", [c[0] for c in claims])
        return super().claim_new_dedups(claims)

    def claim_dedup(self, dedup_key, alert_id, at, until):
        self._note("claim_dedup", dedup_key)
        return super().claim_dedup(dedup_key, alert_id, at, until)

    def release_dedup(self, dedup_key, alert_id):
        self._note("release_dedup", dedup_key)
        super().release_dedup(dedup_key, alert_id)

    def take_throttle_slot(self, bucket, max_alerts, alert_id):
        self._note("take_throttle_slot", bucket)
        return super().take_throttle_slot(bucket, max_alerts, alert_id)

    def suppress_matches(self, matches):
        self._note("suppress_matches", [key for _, key, _, _ in matches])
        super().suppress_matches(matches)

    def save_alerts(self, alerts):
        self._note("save_alerts", [a["_id"] for a, _ in alerts])
        return super().save_alerts(alerts)

    def attach(self, alert_id, key, event, at):
        self._note("attach", key)
        super().attach(alert_id, key, event, at)


def rule(**extra) -> dict:
    [r] = rules(LOW_NPS, **extra)
    return r


def match(r: dict, n: int, customer: str = "C1", minutes: int = 0) -> Keyed:
    event = ev(n, customer, T0 + timedelta(minutes=minutes), scores={"nps": 2})
    return Keyed.of(Match(r, Facts(event), [], event["occurred_at"].timestamp()))


def test_a_batch_claims_each_dedup_key_once_for_its_first_match_and_holds_the_claims_that_landed():
    state = Recording()
    r = rule(dedup={"cooldown": "1h"})
    state.claim_dedup(match(r, 0, "C2").dedup_key, "older", 0, 10**12)  # claimed before the batch
    keyed = [match(r, 1, "C1"), match(r, 2, "C1", 5), match(r, 3, "C2")]
    settlement = Settlement(state, NOW)
    state.calls.clear()
    settlement.claim_new_keys(keyed)
    assert state.calls == [("claim_new_dedups", [keyed[0].dedup_key, keyed[2].dedup_key])]
    assert [k.claimed for k in keyed] == [True, False, False]
    assert settlement.held == {keyed[0].dedup_key: (keyed[0].alert_id, keyed[0].until)}


def test_no_match_no_write():
    state = Recording()
    settlement = Settlement(state, NOW)
    settlement.claim_new_keys([])
    settlement.store_raised()
    assert state.calls == [] and settlement.outcomes == []


def test_a_held_key_answers_its_later_matches_until_it_lapses_then_the_store_is_asked():
    state = Recording()
    r = rule(dedup={"cooldown": "1h"})
    first, inside, lapsed = match(r, 1), match(r, 2, minutes=30), match(r, 3, minutes=90)
    settlement = Settlement(state, NOW)
    settlement.claim_new_keys([first, inside, lapsed])
    state.calls.clear()
    assert settlement.owner(first) == first.alert_id
    assert settlement.owner(inside) == first.alert_id  # open at its event time: no write
    assert state.calls == []
    assert settlement.owner(lapsed) == lapsed.alert_id  # the cool-down is over: taken over
    assert state.calls == [("claim_dedup", lapsed.dedup_key)]
    assert first.dedup_key not in settlement.held  # the store answers from here on


def test_a_throttle_refusal_records_the_match_releases_its_key_and_stops_holding_it():
    state = Recording()
    r = rule(dedup={"cooldown": "1h"}, throttle={"max_alerts": 1, "per": "1h"})
    state.take_throttle_slot(f"r0:{int(T0.timestamp() // 3600)}", 1, "someone else")
    k = match(r, 1)
    settlement = Settlement(state, NOW)
    settlement.claim_new_keys([k])
    state.calls.clear()
    settlement.settle(k)
    assert [name for name, _ in state.calls] == ["take_throttle_slot", "release_dedup"]
    assert [(r, key) for r, key, *_ in settlement.suppressed] == [("r0", k.event_key)]  # kept at the end
    # attached to the period's storm alert, raised with the batch's new alerts (one write)
    [storm] = settlement.storms.values()
    assert settlement.suppressed[0][4] == storm.alert_id and storm.outcome == "storm"
    assert [o.outcome for o in settlement.outcomes] == ["suppressed"]
    assert settlement.held == {} and settlement.unsaved == {}
    assert state.dedup[k.dedup_key] == (k.alert_id, 0)  # free for the next match


def test_repeats_of_an_alert_raised_here_are_counted_in_it_before_the_one_write():
    state = Recording()
    r = rule(dedup={"cooldown": "1h"})
    keyed = [match(r, n, minutes=n) for n in range(3)]
    settlement = Settlement(state, NOW)
    settlement.claim_new_keys(keyed)
    for k in keyed:
        settlement.settle(k)
    assert [name for name, _ in state.calls] == ["claim_new_dedups"]  # nothing written per match
    [unsaved] = settlement.unsaved.values()
    assert unsaved.alert["count"] == 3 and unsaved.alert["last_seen"]["event_id"] == "e2"
    settlement.store_raised()
    assert state.calls[-1] == ("save_alerts", [keyed[0].alert_id])
    assert [o.outcome for o in settlement.outcomes] == ["raised", "attached", "attached"]
    assert settlement.outcomes[0].fresh and settlement.outcomes[0].alert["count"] == 1


def test_an_alert_that_exists_already_gets_the_batchs_events_attached_once_each():
    """A redelivery: the alert is stored; storing finds it and counts each event there."""
    state = Recording()
    r = rule(dedup={"cooldown": "1h"})
    keyed = [match(r, n, minutes=n) for n in range(2)]
    Engine(state)._settle([k.match for k in keyed], NOW)
    [alert_id] = state.alerts
    state.dedup.clear()  # the claims lapsed meanwhile; the alert did not
    state.calls.clear()
    outcomes = Engine(state)._settle([k.match for k in keyed], NOW)
    assert [o.outcome for o in outcomes] == ["raised", "attached"] and not outcomes[0].fresh
    assert state.calls[-3:] == [("save_alerts", [alert_id]), ("attach", "app\x1fe0"), ("attach", "app\x1fe1")]
    assert state.alerts[alert_id]["count"] == 2  # counted once each
