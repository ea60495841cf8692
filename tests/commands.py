"""What a pymongo client sends: a command listener the store tests use to count
round trips (which command, on which collection), e.g. one insert for a whole batch."""

from __future__ import annotations

import threading
from collections import Counter

from pymongo import monitoring

WRITES = ("insert", "update", "findAndModify", "delete")


class CommandLog(monitoring.CommandListener):
    """(command, collection) of every command started while ``on``, in order."""

    def __init__(self, on: bool = True):
        self.commands: list[tuple[str, str]] = []
        self.on = on
        self.lock = threading.Lock()

    def started(self, event):
        if self.on:
            target = event.command.get(event.command_name)
            with self.lock:
                self.commands.append((event.command_name, target if isinstance(target, str) else ""))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def counts(self) -> Counter:
        return Counter(self.commands)

    def writes(self) -> list[tuple[str, str]]:
        return [c for c in self.commands if c[0] in WRITES]
