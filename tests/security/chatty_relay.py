"""An SMTP relay that offers AUTH, refuses every login and echoes the credentials
back in its 535 reply (some relays quote what they received). Run as a process:
``python chatty_relay.py PORT``; it prints ``ready`` once listening."""

from __future__ import annotations

import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Handler:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        return "250 OK"


def refuse(server, session, envelope, mechanism, auth_data):
    login = auth_data.login.decode("utf-8", "replace")
    password = auth_data.password.decode("utf-8", "replace")
    return AuthResult(
        success=False, handled=False, message=f"535 5.7.8 bad credentials {login}:{password} ({mechanism})"
    )


if __name__ == "__main__":
    controller = Controller(
        Handler(),
        hostname="127.0.0.1",
        port=int(sys.argv[1]),
        authenticator=refuse,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)
