"""``nameko run`` with every store command counted (the campaign's "store commands per event").

    BENCH_COMMANDS_DIR=/tmp/x .venv/bin/python -m bench.store_commands run --config deploy/config.yaml \\
        services.alerts.service

The same as ``nameko run …`` plus a pymongo ``CommandListener`` (as bench/roundtrips.py,
but in the service's own process) that counts each command by database and command
name; the totals are written to ``$BENCH_COMMANDS_DIR/<pid>.json`` twice a second, so
the campaign reads them before and after a burst (``bench.campaign.command_totals``), and the
documents those commands write to ``<pid>.docs`` the same way. Heartbeats are not
commands to a listener, so only the services' own work is counted.

With ``BENCH_TRACE=1`` it also writes ``<pid>.trace`` (JSON lines, wall-clock times):
each store command (start, duration, database, command, collection) and each batch a
batch entrypoint ran (queue, size, when its messages arrived, when it started, when it
was settled), for ``bench/trace.py`` to say where a paced run's latency goes.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402  (as nameko run does, before pymongo imports sockets)

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

from pymongo import monitoring  # noqa: E402

WRITE_EVERY = 0.5  # seconds


#: the command field naming the collection, and the field listing the documents or statements
WRITES = {"insert": "documents", "update": "updates", "delete": "deletes"}


class Counts(monitoring.CommandListener):
    """Commands started, by ``<database> <command>``; documents written (inserted,
    update or delete statements, find-and-modify), by ``<database> <collection> <command>``:
    one ``insert_many`` is one command but the store writes (and indexes) each document."""

    def __init__(self):
        self.by: Counter[str] = Counter()
        self.written: Counter[str] = Counter()

    def started(self, event):
        name, command = event.command_name, event.command
        self.by[f"{event.database_name} {name}"] += 1
        if name in WRITES:
            many = len(command.get(WRITES[name]) or ())
            self.written[f"{event.database_name} {command.get(name)} {name}"] += many
        elif name.lower() == "findandmodify":
            self.written[f"{event.database_name} {command.get(name)} findAndModify"] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


class Trace(monitoring.CommandListener):
    """Every store command and every batch, in wall-clock time (``BENCH_TRACE``)."""

    def __init__(self, path: Path):
        self.file = path.open("a", buffering=1 << 16)
        self.open: dict[int, tuple] = {}

    def started(self, event):
        target = event.command.get(event.command_name)
        where = target if isinstance(target, str) else "-"
        self.open[event.request_id] = (time.time(), event.database_name, event.command_name, where)

    def succeeded(self, event):
        self._close(event)

    def failed(self, event):
        self._close(event)

    def _close(self, event):
        row = self.open.pop(event.request_id, None)
        if row is not None:
            at, database, name, where = row
            ms = event.duration_micros / 1000
            self.write({"cmd": name, "db": database, "coll": where, "at": at, "ms": ms})

    def write(self, row: dict) -> None:
        self.file.write(json.dumps(row) + "\n")

    def trace_batches(self) -> None:
        """Wrap the batcher so each batch's arrival, start and settlement is written."""
        from services.common import batching

        trace, put, drive = self, batching.Batcher.put, batching.Batcher._drive

        def timed_put(batcher, key, value, message):
            message._cx_arrived = time.time()
            put(batcher, key, value, message)

        def timed_drive(batcher, batch):
            started = time.time()
            try:
                drive(batcher, batch)
            finally:
                trace.write({
                    "batch": batcher._queue_name(), "size": len(batch), "start": started, "end": time.time(),
                    "arrived": [getattr(item.message, "_cx_arrived", started) for item in batch],
                })  # fmt: skip

        batching.Batcher.put, batching.Batcher._drive = timed_put, timed_drive

    def flush_forever(self) -> None:
        while True:
            eventlet.sleep(WRITE_EVERY)
            self.file.flush()


def write_forever(counts: Counts, path: Path) -> None:
    written = path.with_suffix(".docs")
    while True:
        for target, counter in ((path, counts.by), (written, counts.written)):
            scratch = target.with_suffix(".tmp")
            scratch.write_text(json.dumps(dict(counter)))
            os.replace(scratch, target)  # a reader never sees half a file
        eventlet.sleep(WRITE_EVERY)


def main() -> int:
    counts = Counts()
    monitoring.register(counts)
    directory = Path(os.environ["BENCH_COMMANDS_DIR"])
    eventlet.spawn(write_forever, counts, directory / f"{os.getpid()}.json")
    if os.environ.get("BENCH_TRACE"):
        trace = Trace(directory / f"{os.getpid()}.trace")
        monitoring.register(trace)
        trace.trace_batches()
        eventlet.spawn(trace.flush_forever)
    from nameko.cli import cli

    sys.argv[0] = "nameko"
    return cli()


if __name__ == "__main__":
    sys.exit(main())
