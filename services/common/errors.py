"""Errors that RPC callers (cxctl, the gateway) are expected to handle."""


class BadRequest(ValueError):
    """Invalid input; ``errors`` are ``path: message`` lines naming each bad field."""

    def __init__(self, errors: list[str] | str):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("; ".join(self.errors))


class NotFound(LookupError):
    """The named object does not exist."""


class Conflict(RuntimeError):
    """The object changed concurrently; reload and retry."""
