"""HTTP errors the gateway answers with (JSON for the API, a page for the console)."""

from __future__ import annotations

import re

from marshmallow import ValidationError

from contracts.base import flatten_errors


class HttpError(Exception):
    """An answer other than success; ``errors`` name fields: ``[{"field", "message"}]``."""

    def __init__(self, status: int, message: str, errors: list[dict] | None = None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []
        self.headers = headers or {}

    def body(self) -> dict:
        out = {"error": {"status": self.status, "message": self.message}}
        if self.errors:
            out["error"]["errors"] = self.errors
        return out


class Redirect(Exception):
    """Send the browser elsewhere (a console page without a session goes to /login)."""

    def __init__(self, location: str):
        super().__init__(location)
        self.location = location


def field_errors(lines: list[str]) -> list[dict]:
    """``["customer.id: Not a valid string."]`` → ``[{"field": "customer.id", "message": ...}]``."""
    out = []
    for line in lines:
        name, _, message = line.partition(": ")
        out.append({"field": name, "message": message} if message else {"field": "_schema", "message": line})
    return out


# "; " followed by the next "path: " starts a new line; a "; " inside one message does not.
# A path is anything without spaces (a field name may be any key a caller sent).
_NEXT_LINE = re.compile(r"; (?=[^\s;:]+: )")


def reason_lines(reason: str) -> list[str]:
    """A service's ``BadRequest`` text (``path: message`` lines joined by "; ") as its lines.

    ``"since: must be a duration or an ISO time; got 'x'; until: ..."`` →
    ``["since: must be a duration or an ISO time; got 'x'", "until: ..."]``.
    """
    return _NEXT_LINE.split(reason)


def bad_request(exc: ValidationError | list[str], where: str = "") -> HttpError:
    lines = flatten_errors(exc.messages) if isinstance(exc, ValidationError) else exc
    errors = field_errors(lines)
    if where:
        errors = [
            {**e, "field": f"{where}.{e['field']}" if e["field"] != "_schema" else where} for e in errors
        ]
    return HttpError(400, "invalid " + (where or "request"), errors)
