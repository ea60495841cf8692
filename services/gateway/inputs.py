"""What a handler reads from its request: the query string and the JSON body.

The checks every route shares ran before the handler (entrypoints.py: size,
caller, rate, unknown query names, ``$`` keys, the body parsed once); these
functions apply what is particular to the route: its query schema, and the
body's type, content type and storability.
"""

from __future__ import annotations

from marshmallow import ValidationError

from contracts.base import unstorable
from services.gateway.errors import HttpError, bad_request
from services.gateway.routes import BY_NAME


def query(request, route_name: str) -> dict:
    """The route's query schema applied to the query string (unknown keys → 400)."""
    schema = BY_NAME[route_name].query()
    raw = {}
    for key, values in request.args.lists():
        if len(values) > 1:
            raise bad_request([f"{key}: give this parameter once"], "query")
        raw[key] = values[0]
    if BY_NAME[route_name].kind == "page":
        # An empty form field means "any" in the console's filters (the API has no such case).
        raw = {k: v for k, v in raw.items() if v != "" or k not in schema.fields}
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise bad_request(exc, "query") from None


def json_body(request, allow_empty: bool = False, storable: bool = True):
    """The request's JSON document, parsed and key-checked before the handler ran
    (entrypoints.json_document; the size limit, 413, applies there too); 411 for a
    chunked body, 415 for another content type; with ``allow_empty``, no body at
    all reads as ``{}``. With ``storable``, a document the services could not pass
    on or store (contracts.base.unstorable: an unpaired surrogate, a NUL in a key,
    a 65-bit integer, deep nesting) is a 400 naming the field; feedback ingestion
    checks each event on its own instead."""
    if request.content_length is None and request.headers.get("Transfer-Encoding"):
        # werkzeug reads a body without a length as empty: say so rather than "invalid"
        raise HttpError(411, "send the body with a Content-Length (chunked bodies are not read)")
    if allow_empty and not request.content_length:
        return {}
    if request.mimetype != "application/json":
        raise HttpError(415, "send application/json")
    document = request.environ.get("cx.json")
    problems = unstorable(document, "body") if storable else []
    if problems:
        raise HttpError(400, "invalid request", [{"field": f, "message": m} for f, m in problems])
    return document


def rule_document(request) -> dict:
    """A rule's JSON body; the alerts service validates its fields."""
    document = json_body(request)
    if not isinstance(document, dict):
        raise bad_request(["body: a rule is a JSON object (id, name, level, owner, channels, when, ...)"])
    return document
