"""How cxctl shows queues draining: a table, a self-updating block, a log line."""

from __future__ import annotations

import shutil

import click

from cxctl.common import _pad, _width
from cxctl.drain import DRAINING, GROWING, IDLE, STALLED, STEADY, Drain, DrainTracker, QueueSample, total

TOP = 8  # queues the block and the log line name, deepest first
EVERY = 5.0  # seconds between log lines: the management API's own refresh

# column headings, English above zh-CN
MOVEMENT = [("change", "增减"), ("ETA", "预计清空"), ("in", "流入"), ("out", "流出")]
STATE_LABELS = {
    IDLE: "idle / 空闲",
    GROWING: "— growing / 增长中",
    STALLED: "— stalled / 停滞",
    STEADY: "— steady / 持平",
}


def duration(seconds: float) -> str:
    if 0 < seconds < 0.5:
        return "<1s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 100 * 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return ">99h"


def rate(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.1f}/s" if signed else f"{value:.1f}/s"


def eta(drain: Drain) -> str:
    """The time to idle, or what the queue is doing instead ("—" while its rate is unknown)."""
    if drain.state == DRAINING:
        assert drain.eta is not None
        return duration(drain.eta)
    return STATE_LABELS.get(drain.state, "—")


def aligned(rows: list[list[str]], numeric: set[int]) -> list[str]:
    """Rows of cells as columns; ``numeric`` columns are right-aligned."""
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            " " * (w - _width(cell)) + cell if i in numeric else _pad(cell, w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _busy(drains: list[Drain]) -> list[Drain]:
    return [d for d in drains if d.depth and not d.dead_letter]


def _dead_letters(drains: list[Drain]) -> str | None:
    dead = [d for d in drains if d.dead_letter and d.depth]
    if not dead:
        return None
    return "dead letters / 死信 (not waited for / 不等待): " + ", ".join(f"{d.name} {d.depth}" for d in dead)


def block(drains: list[Drain], elapsed: float, top: int = TOP) -> list[str]:
    """The terminal view: the deepest queues, the rest summed up, the total, dead letters."""
    busy, whole = _busy(drains), total(drains)
    rows = _headings([("queue", "队列"), ("depth", "积压")] + MOVEMENT)
    rows += [[d.name, str(d.depth), *_movement(d)] for d in busy[:top]]
    if len(busy) > top:
        rest = busy[top:]
        rows.append(
            [f"… {len(rest)} more / 另有 {len(rest)} 个", str(sum(d.depth for d in rest)), "", "", "", ""]
        )
    rows.append(["total / 合计", str(whole.depth), *_movement(whole)])
    title = f"waiting for idle / 等待空闲 · {duration(elapsed)} · {len(busy)} busy queues / 个队列积压"
    dead = _dead_letters(drains)
    return [title] + aligned(rows, numeric={1, 2, 4, 5}) + ([dead] if dead else [])


def _headings(columns: list[tuple[str, str]]) -> list[list[str]]:
    return [[en for en, _ in columns], [zh for _, zh in columns]]


def _movement(d: Drain) -> list[str]:
    return [rate(d.net_rate, signed=True), eta(d), rate(d.in_rate), rate(d.out_rate)]


def log_line(drains: list[Drain], elapsed: float, top: int = TOP) -> str:
    """One line for logs and CI: the total, then the deepest queues."""
    whole = total(drains)
    parts = [
        f"wait-idle {duration(elapsed)}",
        f"total / 合计 {whole.depth} {rate(whole.net_rate, signed=True)} "
        f"(in {rate(whole.in_rate)}, out {rate(whole.out_rate)}) ETA {eta(whole)}",
    ]
    parts += [f"{d.name} {d.depth} {rate(d.net_rate, signed=True)} ETA {eta(d)}" for d in _busy(drains)[:top]]
    dead = _dead_letters(drains)
    return " · ".join(parts + ([dead] if dead else []))


def queue_table(drains: list[Drain]) -> list[str]:
    """`cxctl stats`: every non-empty queue with its ready and unacked messages."""
    shown = [d for d in drains if d.depth]
    if not shown:
        return ["queues / 队列: all empty / 全部为空"]
    rows = _headings([("queue", "队列"), ("ready", "待处理"), ("unacked", "处理中")] + MOVEMENT)
    for d in shown:
        change, when, inflow, outflow = _movement(d)
        when = "dead letters / 死信" if d.dead_letter else when
        rows.append([d.name, str(d.ready), str(d.unacked), change, when, inflow, outflow])
    return ["queues / 队列:"] + ["  " + line for line in aligned(rows, numeric={1, 2, 3, 5, 6})]


class Progress:
    """Watches wait-idle's listings: a block redrawn in place on a terminal, else a line every EVERY s."""

    def __init__(self, live: bool, top: int = TOP, every: float = EVERY):
        self.live = live
        self.top = top
        self.every = every
        self.tracker = DrainTracker()
        self.started: float | None = None
        self.last_line: float | None = None
        self.drawn = 0  # lines of the block on screen

    def __call__(self, now: float, samples: list[QueueSample]) -> None:
        self.tracker.add(now, samples)
        if self.started is None:
            self.started = now
        drains, elapsed = self.tracker.queues(), now - self.started
        if self.live:
            self._redraw(block(drains, elapsed, self.top))
        elif self.last_line is None or now - self.last_line >= self.every:
            self.last_line = now
            click.echo(log_line(drains, elapsed, self.top), err=True)

    def _redraw(self, lines: list[str]) -> None:
        # a wrapped line would throw the cursor-up count off: clip to the terminal
        width = shutil.get_terminal_size().columns - 1
        up = f"\x1b[{self.drawn}F" if self.drawn else ""
        text = "".join(f"\x1b[2K{_clip(line, width)}\n" for line in lines)
        click.echo(up + text + "\x1b[J", err=True, nl=False, color=True)
        self.drawn = len(lines)


def _clip(line: str, width: int) -> str:
    used = 0
    for i, ch in enumerate(line):
        used += _width(ch)
        if used > width:
            return line[:i]
    return line
