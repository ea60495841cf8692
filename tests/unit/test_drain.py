"""Drain rates and times to idle from successive management API listings (cxctl/drain.py).

The replayed listings in ``fixtures/rabbitmq_drain.json`` were recorded from the real
broker by ``fixtures/capture_rabbitmq_drain.py`` (what it ran is in its docstring);
the synthetic ones imitate the API's 5 s refresh polled every second, without the
broker's own rates (``rates_mode = none``), so the depths must be differenced.
"""

import json
import math
from pathlib import Path

import pytest

from cxctl import drain_view
from cxctl.drain import (
    DRAINING,
    GROWING,
    IDLE,
    STALLED,
    STEADY,
    UNKNOWN,
    Drain,
    DrainTracker,
    QueueSample,
    total,
)

LISTINGS = json.loads(
    (Path(__file__).with_name("fixtures") / "rabbitmq_drain.json").read_text(encoding="utf-8")
)
ALERTS, PROFILES = "cx.feedback.alerts", "cx.feedback.profiles"
RETRY, DLQ = "cx.feedback.alerts.retry.3000ms", "cx.feedback.alerts.dlq"


def replay(until: float | None = None):
    """Feed the recorded listings; yield (time, {queue: Drain}, total) after each."""
    tracker = DrainTracker()
    for listing in LISTINGS:
        if until is not None and listing["at"] > until:
            return
        tracker.add(listing["at"], [QueueSample.from_api(row) for row in listing["queues"]])
        drains = tracker.queues()
        yield listing["at"], {d.name: d for d in drains}, total(drains)


def raw(at: float, name: str) -> dict:
    [listing] = [x for x in LISTINGS if x["at"] == at]
    return next(row for row in listing["queues"] if row["name"] == name)


def polled(depth_at, seconds: float, phase: float = 0.3, name: str = "q", refresh: float = 5.0):
    """Poll every second a queue whose figures the API refreshes every ``refresh`` s."""
    tracker, seen = DrainTracker(), []
    for n in range(int(seconds)):
        at = n + phase
        shown = depth_at(math.floor(at / refresh) * refresh)  # the last refresh's figure
        tracker.add(at, [QueueSample(name, ready=shown, unacked=0)])
        [d] = tracker.queues()
        seen.append((at, d))
    return seen


# what the real broker reported ------------------------------------------------


def test_a_recorded_api_row_becomes_a_sample():
    at = next(x["at"] for x in LISTINGS if raw(x["at"], ALERTS).get("messages", 0) > 100)
    row = raw(at, ALERTS)
    sample = QueueSample.from_api(row)
    stats = row["message_stats"]
    assert (sample.ready, sample.unacked) == (row["messages_ready"], row["messages_unacknowledged"])
    assert sample.depth == row["messages"]
    assert sample.net_rate == row["messages_details"]["rate"]
    assert sample.in_rate == stats["publish_details"]["rate"]
    assert sample.out_rate == stats["ack_details"]["rate"] + stats["deliver_no_ack_details"]["rate"]
    assert not sample.dead_letter and QueueSample.from_api(raw(at, DLQ)).dead_letter


def test_a_queue_the_api_has_not_reported_on_yet_is_empty_with_no_rates():
    sample = QueueSample.from_api({"name": "fresh", "vhost": "/", "durable": True})
    assert (sample.depth, sample.net_rate, sample.in_rate, sample.out_rate) == (0, None, None, None)


def test_recorded_steady_drain_rates_hold_through_the_apis_repeated_figures():
    # 13 s after the burst the window holds only the drain; the figures change every
    # 5 s, so four listings out of five repeat the previous one
    steady = [(at, q, t) for at, q, t in replay(until=37.5) if at >= 28]
    assert len(steady) >= 9
    for _, queues, whole in steady:
        alerts = queues[ALERTS]
        assert -14 <= alerts.net_rate <= -12  # 20/s consumed, 5/s published, 2/s back from retry
        assert 4.5 <= alerts.in_rate <= 5.5 and 19 <= alerts.out_rate <= 21
        assert alerts.state == DRAINING
        assert alerts.eta == pytest.approx(alerts.depth / -alerts.net_rate)
        assert whole.state == DRAINING and whole.eta <= alerts.eta + 1
    depths = [q[ALERTS].depth for _, q, _ in steady]
    assert depths == sorted(depths, reverse=True) and depths[0] > depths[-1]


def test_recorded_quorum_queue_drains_to_idle():
    runs = list(replay())
    draining = [q[PROFILES] for at, q, _ in runs if 23 <= at < 32.5]
    assert draining and all(-10.5 <= d.net_rate <= -9.5 and d.state == DRAINING for d in draining)
    emptied = [q[PROFILES] for at, q, _ in runs if at >= 33.5]
    assert emptied and all(d.depth == 0 and d.state == IDLE and d.eta == 0 for d in emptied)


def test_expiring_retry_queue_holds_its_depth_though_nothing_acks():
    # nothing consumes it and message_stats does not count expiries: arrivals minus
    # drain would say +2/s, the depth's own rate says it holds
    late = [q[RETRY] for at, q, _ in replay() if at >= 28]
    assert late and all(1.5 <= r.in_rate <= 2.5 and r.out_rate is None for r in late)
    assert all(abs(r.net_rate) < 0.5 and 5 <= r.depth <= 8 for r in late)


def test_dead_letters_are_listed_but_left_out_of_the_total():
    at, queues, whole = list(replay())[-1]
    assert queues[DLQ].depth == 3 and queues[DLQ].dead_letter
    assert whole.depth == sum(d.depth for d in queues.values() if not d.dead_letter)
    assert whole.depth == queues[ALERTS].depth + queues[RETRY].depth


def test_no_rate_is_lost_or_infinite_once_a_queue_has_figures():
    for _, queues, whole in replay():
        for d in [*queues.values(), whole]:
            if d.net_rate is not None:
                assert math.isfinite(d.net_rate)
            if d.depth:
                assert d.net_rate is not None


# differencing the depths (no rates from the broker) -------------------------------


def test_steady_drain_plateaus_neither_zero_nor_infinity():
    seen = polled(lambda t: max(0, 1000 - 20 * int(t)), 40)
    assert seen[0][1].net_rate is None and seen[0][1].state == UNKNOWN  # one figure: no rate yet
    after = [(at, d) for at, d in seen if at > 5]  # from the first change on
    for _, d in after:
        assert -24 <= d.net_rate <= -16, d
        assert d.state == DRAINING
        assert d.eta == pytest.approx(d.depth / -d.net_rate)
    etas = [d.eta for _, d in after]
    assert etas[0] == pytest.approx(900 / 20, rel=0.2) and etas[-1] < etas[0]


def test_stalled_queue_reads_zero_after_a_refresh_and_has_no_eta():
    seen = polled(lambda t: 500, 20)
    assert all(d.net_rate is None for at, d in seen if at < 7.5)  # could still be a refresh away
    late = [d for at, d in seen if at >= 8]
    assert late and all(d.net_rate == 0 and d.state == STALLED and d.eta is None for d in late)
    assert drain_view.eta(late[-1]) == "— stalled / 停滞"


def test_a_drain_that_stops_decays_to_stalled_without_jumping():
    seen = polled(lambda t: 1000 - 20 * int(min(t, 20)), 50)
    rates = [d.net_rate for at, d in seen if at > 5]
    assert all(-24 <= r <= 0 for r in rates)
    # never rising again once decaying: the plateau only ever adds seconds of no change
    tail = [d.net_rate for at, d in seen if at > 21]
    assert tail == sorted(tail)
    assert seen[-1][1].state == STALLED and seen[-1][1].eta is None


def test_growing_queue_says_so_and_has_no_eta():
    seen = polled(lambda t: 100 + 10 * int(t), 30)
    late = [d for at, d in seen if at > 6]
    assert all(8 <= d.net_rate <= 12 and d.state == GROWING and d.eta is None for d in late)
    assert drain_view.eta(late[-1]) == "— growing / 增长中"


def test_no_queues_or_only_empty_ones_are_idle():
    tracker = DrainTracker()
    tracker.add(0.0, [])
    assert tracker.queues() == []
    nothing = total([])
    assert (nothing.depth, nothing.state, nothing.eta) == (0, IDLE, 0.0)
    tracker.add(1.0, [QueueSample("a", 0, 0), QueueSample("a.dlq", 4, 0)])
    whole = total(tracker.queues())
    assert whole.state == IDLE and drain_view.eta(whole) == "idle / 空闲"


def test_a_busy_queue_without_a_rate_makes_the_total_unknown():
    tracker = DrainTracker()
    tracker.add(0.0, [QueueSample("a", 30, 0), QueueSample("b", 10, 0, net_rate=-5.0)])
    whole = total(tracker.queues())
    assert whole.depth == 40 and whole.net_rate is None and whole.state == UNKNOWN
    assert drain_view.eta(whole) == "—"


def test_queues_gone_from_a_listing_are_forgotten():
    tracker = DrainTracker()
    tracker.add(0.0, [QueueSample("a", 3, 0), QueueSample("b", 5, 0)])
    tracker.add(1.0, [QueueSample("b", 5, 0)])
    assert [d.name for d in tracker.queues()] == ["b"]


# the broker's rates ---------------------------------------------------------------


def test_the_brokers_rate_stands_in_until_a_second_depth_is_seen():
    tracker = DrainTracker()
    tracker.add(0.0, [QueueSample("q", 900, 0, net_rate=-30.0)])
    [d] = tracker.queues()
    assert d.net_rate == -30.0 and d.eta == pytest.approx(30.0)  # what `cxctl stats` shows
    tracker.add(4.0, [QueueSample("q", 820, 0, net_rate=-30.0)])  # the depths say 20/s
    [d] = tracker.queues()
    assert d.net_rate == pytest.approx(-20.0)


def test_arrivals_and_drain_are_the_brokers_rates_smoothed_over_the_window():
    tracker = DrainTracker()
    for n in range(30):  # its 5 s intervals vary: 10, 30, 10, …
        out = 10.0 if (n // 5) % 2 else 30.0
        tracker.add(float(n), [QueueSample("q", 2000, 0, in_rate=out, out_rate=out)])
    [d] = tracker.queues()
    assert 18 <= d.out_rate <= 22 and 18 <= d.in_rate <= 22
    assert d.net_rate == 0 and d.state == STEADY  # the depth holds: as much in as out


def test_falling_depths_drain_though_the_brokers_rate_still_says_zero():
    tracker = DrainTracker()
    # consumers start at 0; the depth moves at the first refresh, the rate only at the next
    for n in range(12):
        refreshes = n // 5
        depth = 300 - 75 * refreshes
        rate = -15.0 if refreshes >= 2 else 0.0
        tracker.add(n + 0.3, [QueueSample("q", depth, 0, net_rate=rate, in_rate=0.0, out_rate=-rate)])
        [d] = tracker.queues()
        if refreshes == 1:
            assert d.state == DRAINING and -20 <= d.net_rate <= -7.5, (n, d)
    assert d.state == DRAINING and -15 <= d.net_rate <= -7.5


def test_a_queue_that_keeps_pace_is_steady_not_stalled():
    tracker = DrainTracker()
    tracker.add(0.0, [QueueSample("q", 40, 2, net_rate=0.0, in_rate=50.0, out_rate=50.0)])
    [d] = tracker.queues()
    assert d.state == STEADY and d.eta is None and drain_view.eta(d) == "— steady / 持平"


# the display ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.2, "<1s"), (12.4, "12s"), (185, "3m05s"), (7260, "2h01m"), (400 * 3600, ">99h")],
)
def test_durations(seconds, shown):
    assert drain_view.duration(seconds) == shown


def many_queues():
    queues = [
        Drain(f"q{n}", 100 * n, n, net_rate=-float(n), in_rate=0.0, out_rate=float(n)) for n in range(1, 11)
    ]
    return sorted(queues + [Drain("q1.dlq", 6, 0, None, dead_letter=True)], key=lambda d: -d.depth)


def test_block_shows_the_deepest_queues_the_rest_the_total_and_dead_letters():
    lines = drain_view.block(many_queues(), elapsed=65, top=8)
    assert lines[0] == "waiting for idle / 等待空闲 · 1m05s · 10 busy queues / 个队列积压"
    assert lines[1].split() == ["queue", "depth", "change", "ETA", "in", "out"]
    assert lines[2].split() == ["队列", "积压", "增减", "预计清空", "流入", "流出"]
    assert lines[3].split() == ["q10", "1010", "-10.0/s", "1m41s", "0.0/s", "10.0/s"]  # 1010 / 10 per s
    assert lines[11].split() == ["…", "2", "more", "/", "另有", "2", "个", "303"]  # q2 + q1
    assert lines[12].split() == ["total", "/", "合计", "5555", "-55.0/s", "1m41s", "0.0/s", "55.0/s"]
    assert lines[13] == "dead letters / 死信 (not waited for / 不等待): q1.dlq 6"
    assert len({len(line) for line in lines[3:11]}) == 1  # aligned columns


def test_log_line_names_the_total_and_the_deepest_queues():
    line = drain_view.log_line(many_queues(), elapsed=7, top=2)
    assert line.startswith("wait-idle 7s · total / 合计 5555 -55.0/s (in 0.0/s, out 55.0/s) ETA 1m41s")
    assert "q10 1010 -10.0/s ETA 1m41s · q9 909 -9.0/s ETA 1m41s · dead letters" in line
    assert "q8" not in line


def test_stats_table_lists_non_empty_queues_with_ready_and_unacked():
    drains = [Drain("a", 7, 3, -2.0), Drain("b", 0, 0, 0.0), Drain("a.dlq", 2, 0, None, dead_letter=True)]
    lines = drain_view.queue_table(drains)
    assert lines[0] == "queues / 队列:"
    assert lines[1].split() == ["queue", "ready", "unacked", "change", "ETA", "in", "out"]
    assert lines[2].split() == ["队列", "待处理", "处理中", "增减", "预计清空", "流入", "流出"]
    assert lines[3].split() == ["a", "7", "3", "-2.0/s", "5s", "—", "—"]
    assert lines[4].split() == ["a.dlq", "2", "0", "—", "dead", "letters", "/", "死信", "—", "—"]
    assert len(lines) == 5
    assert drain_view.queue_table([Drain("b", 0, 0, 0.0)]) == ["queues / 队列: all empty / 全部为空"]


def test_progress_off_a_terminal_writes_a_line_every_five_seconds(capsys):
    progress = drain_view.Progress(live=False)
    for n in range(12):
        progress(100.0 + n, [QueueSample("q", 600 - 20 * n, 0, net_rate=-20.0)])
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" · ")[0] for line in lines] == ["wait-idle 0s", "wait-idle 5s", "wait-idle 10s"]
    assert "q 400 -20.0/s ETA 20s" in lines[2]


def test_progress_on_a_terminal_redraws_its_block_in_place(capsys):
    progress = drain_view.Progress(live=True)
    progress(0.0, [QueueSample("q", 600, 0, net_rate=-20.0)])
    first = capsys.readouterr().err
    progress(1.0, [QueueSample("q", 580, 0, net_rate=-20.0)])
    second = capsys.readouterr().err
    drawn = first.count("\n")
    assert first.startswith("\x1b[2K")  # nothing drawn yet to go back over
    assert second.startswith(f"\x1b[{drawn}F") and second.count("\x1b[2K") == drawn
    assert "580" in second and second.endswith("\x1b[J")
