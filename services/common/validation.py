"""Validating configuration documents and requests with marshmallow, one way everywhere.

Every document an admin applies (rules, agents, SLA and escalation policies, recipients,
users) and every request body refuses fields it does not know (``StrictSchema``), and a
failure becomes one error naming each bad field (``path: message`` lines, as API 4xx
bodies and ``cxctl`` show them), never a marshmallow exception.
"""

from __future__ import annotations

from collections.abc import Callable

from marshmallow import RAISE, Schema, ValidationError

from contracts.base import flatten_errors
from services.common.errors import BadRequest


class StrictSchema(Schema):
    """A schema that refuses unknown fields: a typo is an error, not silently ignored."""

    class Meta:
        unknown = RAISE


def load_valid(
    schema: Schema | type[Schema],
    document,
    *,
    shape: str | None = None,
    field: str = "",
    error: Callable[[list[str]], Exception] = BadRequest,
):
    """``schema`` loaded from ``document``. ``shape`` (what the document should look like)
    refuses a document that is not an object before the schema sees it; a validation
    failure raises ``error`` with one ``path: message`` line per bad field, each path
    under ``field`` when the document is one field of a larger request."""
    if shape is not None and not isinstance(document, dict):
        raise error([f"{field or '_schema'}: {shape}"])
    try:
        return (schema() if isinstance(schema, type) else schema).load(document)
    except ValidationError as exc:
        raise error(flatten_errors(exc.messages, field)) from None
