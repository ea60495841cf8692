"""An SMTP server (aiosmtpd, run as its own process) that answers by recipient:
``full@`` → 452 (mailbox full, transient), ``nobody@`` → 550 (no such user), anything
else is accepted and counted in the file given on the command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path


class Handler:
    def __init__(self, log: Path):
        self.log = log

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        if address.startswith("full@"):
            return "452 4.2.2 mailbox full"
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.log.open("a") as f:
            f.write(",".join(envelope.rcpt_tos) + "\n")
        return "250 Message accepted"


def main() -> None:
    from aiosmtpd.controller import Controller

    port, log = int(sys.argv[1]), Path(sys.argv[2])
    controller = Controller(Handler(log), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
