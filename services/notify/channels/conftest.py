"""Channel tests run real HTTP servers; eventlet patches sockets first, as in tests/."""

import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402
