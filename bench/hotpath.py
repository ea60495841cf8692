"""py-spy on running services: record while a burst runs, then summarise.

``py-spy record --format raw`` writes one line per distinct stack,
``frame;frame;…;leaf count`` with frames as ``function (file:line)``. A sample's
*own* time belongs to its leaf frame; its *total* time to every distinct function
on the stack. py-spy does not see the eventlet hub's ``epoll_wait`` as idle, so
the hub's ``do_poll`` is sampled too: its share is the time the process spent
waiting for sockets (the store's and the broker's answers), the rest is CPU.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
OURS = re.compile(r"\((services|contracts)/")  # the project's own code, as py-spy names its files


def py_spy() -> str:
    """The py-spy binary of the running virtualenv (the ``bench`` extra)."""
    found = Path(sys.executable).parent / "py-spy"
    if found.exists():
        return str(found)
    path = shutil.which("py-spy")
    if path is None:
        raise RuntimeError("py-spy is not installed (pip install -e '.[bench]')")
    return path


class Recorder:
    """``py-spy record`` on one process until ``stop()`` (SIGINT makes it write the file).

    20 samples/s: at 100/s on the 2-core machine py-spy fell 30 s behind during a burst
    and wrote nothing before it was stopped."""

    def __init__(self, pid: int, out: Path, rate: int = 20):
        self.out = out
        self.log = open(out.with_suffix(".log"), "w")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            # --nonblocking: sample without pausing the process, so the burst runs at its own pace
            [
                py_spy(),
                "record",
                "--pid",
                str(pid),
                "--format",
                "raw",
                "--rate",
                str(rate),
                "--nonblocking",
                "-o",
                str(out),
            ],  # fmt: skip
            stdout=self.log,
            stderr=self.log,
        )

    def stop(self) -> Path:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        return self.out


def function_of(frame: str) -> str:
    """``handle (services/alerts/service.py:120)`` → ``handle (services/alerts/service.py)``."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['function']} ({match['file']})"


def parse_raw(text: str) -> list[tuple[list[str], int]]:
    """(frames root → leaf, samples) for each line of py-spy's raw output."""
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stacks.append((stack.split(";"), int(count)))
    return stacks


STORE = re.compile(r"\((nx_27017|neosqlite)/")  # the embedded store's own code


def summarise(stacks: list[tuple[list[str], int]], top: int = 15, ours: re.Pattern = OURS) -> dict:
    """The ``top`` functions by own samples, and the project's own functions (``ours``:
    another pattern for the store) by total samples (the framework's entry frames would
    top that list), with their shares."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for frames, count in stacks:
        samples += count
        functions = [function_of(f) for f in frames]
        if functions:
            own[functions[-1]] += count
        for function in set(functions):
            if ours.search(function):
                total[function] += count

    def rows(counter: Counter[str]) -> list[dict]:
        return [
            {"function": f, "samples": n, "share": n / samples if samples else 0.0}
            for f, n in counter.most_common(top)
        ]

    return {"samples": samples, "own": rows(own), "total": rows(total)}


def markdown(service: str, summary: dict) -> str:
    lines = [
        f"### {service}: {summary['samples']} samples",
        "",
        "`do_poll (eventlet/hubs/epolls.py)` is the eventlet hub waiting for sockets: the time",
        "the process waited for the store's or the broker's answers; the rest is CPU.",
        "",
        "| # | function (file) | own samples | own share |",
        "|---|---|---|---|",
    ]
    for i, row in enumerate(summary["own"], 1):
        lines.append(f"| {i} | `{row['function']}` | {row['samples']} | {row['share']:.1%} |")
    lines += ["", "| # | our function (file), by total time | samples | share |", "|---|---|---|---|"]
    for i, row in enumerate(summary["total"], 1):
        lines.append(f"| {i} | `{row['function']}` | {row['samples']} | {row['share']:.1%} |")
    return "\n".join(lines)
