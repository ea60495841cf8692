"""services/gateway/together.py: a page's independent calls at once."""

from __future__ import annotations

import eventlet
import pytest

from services.gateway.together import together


def test_results_come_back_in_the_order_of_the_calls_while_the_calls_overlap():
    ended = []

    def call(name, seconds):
        def run():
            eventlet.sleep(seconds)
            ended.append(name)
            return name

        return run

    assert together(call("slow", 0.05), call("fast", 0)) == ["slow", "fast"]
    assert ended == ["fast", "slow"]  # the second call did not wait for the first


def test_every_call_ends_then_the_first_failure_is_raised():
    ended = []

    def fails(message):
        def run():
            eventlet.sleep(0.01)
            ended.append(message)
            raise KeyError(message)

        return run

    def works():
        eventlet.sleep(0.02)
        ended.append("works")
        return 1

    with pytest.raises(KeyError, match="first"):
        together(works, fails("first"), fails("second"))
    assert sorted(ended) == ["first", "second", "works"]
