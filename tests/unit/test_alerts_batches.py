"""A batch settled at once (``Engine.process_many``) equals the same events one at a time,
on in-memory state: dedup within the batch, throttle, cool-downs lapsing, windows."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.alerts.engine import Engine
from services.alerts.memory import MemoryState
from services.alerts.rules import load_rules

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, tzinfo=UTC)
LOW_NPS = {"field": "scores.nps", "op": "lte", "value": 6}


def rules() -> list[dict]:
    docs = [
        # dedup by touchpoint, a short cool-down that lapses inside a batch
        {"id": "low", "when": LOW_NPS, "dedup": {"by": ["touchpoint"], "cooldown": "2h"}},
        # a throttle that refuses inside a batch, so a released key is claimed again
        {
            "id": "capped",
            "when": LOW_NPS,
            "dedup": {"cooldown": "3h"},
            "throttle": {"max_alerts": 2, "per": "1h"},
        },
        # a window the batch's own events complete
        {
            "id": "twice",
            "when": {"window": {"count": {"at_least": 2, "within": "1d", "where": LOW_NPS}}},
            "dedup": {"cooldown": "1h"},
        },
    ]
    common = {"name": "R", "level": "P2", "owner": {"kind": "person", "id": "li.na"}, "channels": ["email"]}
    return [dict(r, version=1) for r in load_rules([{**common, **d} for d in docs])]


def event(n: int, customer: int, minutes: int, nps: int, touchpoint: str) -> dict:
    return {
        "source": "app",
        "event_id": f"e{n}",
        "occurred_at": T0 + timedelta(minutes=minutes),
        "customer": {"id": f"C{customer}"},
        "channel": "app",
        "touchpoint": touchpoint,
        "scores": {"nps": nps},
    }


EVENTS = st.lists(
    st.tuples(
        st.integers(0, 2),  # customer
        st.integers(0, 300),  # minutes after T0: out of order, cool-downs lapse
        st.integers(0, 9),  # nps: most match
        st.sampled_from(["delivery", "billing"]),
    ),
    min_size=1,
    max_size=14,
)


def outcome_view(outcomes) -> list[tuple]:
    return [(o.rule_id, o.outcome, o.alert_id, o.dedup_key, o.fresh, o.alert) for o in outcomes]


def state_view(state: MemoryState) -> tuple:
    return (
        state.alerts,
        dict(state.attached),
        state.dedup,
        dict(state.slots),
        dict(state.suppressed),
    )


@settings(max_examples=150, deadline=None)
@given(
    specs=EVENTS,
    before=st.integers(0, 14),
    repeats=st.lists(st.integers(0, 13), max_size=3),
)
def test_a_batch_settles_as_its_events_one_at_a_time(specs, before, repeats):
    """Events up to ``before`` one at a time, then the rest as one batch (with some
    events repeated in it), then the batch redelivered: outcomes and state equal
    those of every event one at a time."""
    events = [event(n, *spec) for n, spec in enumerate(specs)]
    earlier, batch = events[:before], events[before:]
    batch += [batch[i] for i in repeats if i < len(batch)]
    serial, batched = Engine(MemoryState()), Engine(MemoryState())
    for e in earlier:
        assert outcome_view(serial.process(rules(), e, NOW)) == outcome_view(batched.process(rules(), e, NOW))
    for _delivery in range(2):
        one_by_one = [o for e in batch for o in serial.process(rules(), e, NOW)]
        assert outcome_view(batched.process_many(rules(), batch, NOW)) == outcome_view(one_by_one)
        assert state_view(batched.state) == state_view(serial.state)


def test_repeats_of_an_alert_raised_in_the_same_batch_are_counted_in_it():
    state = MemoryState()
    [low, *_] = rules()
    batch = [event(n, 0, 10 * n, 2, "delivery") for n in range(4)]
    outcomes = Engine(state).process_many([low], batch, NOW)
    assert [o.outcome for o in outcomes] == ["raised", "attached", "attached", "attached"]
    assert outcomes[0].fresh and outcomes[0].alert["count"] == 1  # as raised, like one at a time
    [alert] = state.alerts.values()
    assert alert["count"] == 4 and alert["last_seen"]["event_id"] == "e3"
    assert set(state.attached[alert["_id"]]) == {f"app\x1fe{n}" for n in range(4)}
