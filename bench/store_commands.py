"""``nameko run`` with every store command counted (the campaign's "store commands per event").

    BENCH_COMMANDS_DIR=/tmp/x .venv/bin/python -m bench.store_commands run --config deploy/config.yaml \\
        services.alerts.service

The same as ``nameko run …`` plus a pymongo ``CommandListener`` (as bench/roundtrips.py,
but in the service's own process) that counts each command by database and command
name; the totals are written to ``$BENCH_COMMANDS_DIR/<pid>.json`` twice a second, so
the campaign reads them before and after a burst (``bench.campaign.command_totals``). Heartbeats are not
commands to a listener, so only the services' own work is counted.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402  (as nameko run does, before pymongo imports sockets)

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

from pymongo import monitoring  # noqa: E402

WRITE_EVERY = 0.5  # seconds


class Counts(monitoring.CommandListener):
    """Commands started, by ``<database> <command>``."""

    def __init__(self):
        self.by: Counter[str] = Counter()

    def started(self, event):
        self.by[f"{event.database_name} {event.command_name}"] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def write_forever(counts: Counts, path: Path) -> None:
    scratch = path.with_suffix(".tmp")
    while True:
        scratch.write_text(json.dumps(dict(counts.by)))
        os.replace(scratch, path)  # a reader never sees half a file
        eventlet.sleep(WRITE_EVERY)


def main() -> int:
    counts = Counts()
    monitoring.register(counts)
    directory = Path(os.environ["BENCH_COMMANDS_DIR"])
    eventlet.spawn(write_forever, counts, directory / f"{os.getpid()}.json")
    from nameko.cli import cli

    sys.argv[0] = "nameko"
    return cli()


if __name__ == "__main__":
    sys.exit(main())
