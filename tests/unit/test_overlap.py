"""services/common/overlap.py: independent writes run together, and a failure waits
for the others before it fails the batch."""

import eventlet
import pytest

from services.common.overlap import run_together


def test_results_come_back_in_the_order_given_and_the_calls_overlap():
    order = []

    def slow(name, pause):
        def call():
            order.append(f"start {name}")
            eventlet.sleep(pause)
            order.append(f"end {name}")
            return name

        return call

    assert run_together(slow("a", 0.05), slow("b", 0.01)) == ["a", "b"]
    # both started before either ended: they ran together
    assert order[:2] == ["start a", "start b"]
    assert order[2:] == ["end b", "end a"]


def test_a_failure_is_raised_only_after_every_other_call_finished():
    finished = []

    def fails():
        raise ValueError("store refused")

    def slow():
        eventlet.sleep(0.05)
        finished.append("slow")

    with pytest.raises(ValueError, match="store refused"):
        run_together(fails, slow)
    assert finished == ["slow"]


def test_the_first_failure_in_the_order_given_wins():
    def first():
        eventlet.sleep(0.02)
        raise KeyError("first")

    def second():
        raise ValueError("second")

    with pytest.raises(KeyError):
        run_together(first, second)


def test_one_call_runs_in_place():
    assert run_together(lambda: 7) == [7]
    assert run_together() == []
