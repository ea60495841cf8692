"""Each message type's published JSON Schema (``contracts/jsonschema``, built by
``contracts.export``) compiled into a validator: the check a producer runs on what it
is about to publish (``services.common.messaging.serialize``).

The published schema is the contract integrators validate against: types, required
fields, lengths, enums, id and key patterns, ``schema_version``. Compiled (fastjsonschema)
it checks a message in ~5–15 µs where a marshmallow ``validate`` took 60–350 µs
(docs/benchmarks.md), and a service publishes about six messages per feedback event.
The consumers still load every message with the full marshmallow schema (through its
compiled fast path, contracts/loading.py, with the same outcome), which adds what JSON
Schema cannot say (time ranges, 64-bit integers, key depth) and refuses to the
dead-letter queue what breaks it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import fastjsonschema

from contracts.export import message_schema
from contracts.messages import MESSAGES


class Breach(ValueError):
    """What a message breaks in its published schema: ``field: problem``."""


@cache
def _compiled(event_type: str) -> Callable[[dict], object]:
    spec = MESSAGES[event_type]  # KeyError when unknown, as schema_of
    schema = message_schema(spec.name, spec.schema(), spec.schema.SCHEMA_VERSION)
    # the keywords the export writes are all draft-07's; the compiler knows drafts to 07
    schema = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    return fastjsonschema.compile(schema, formats={})  # date-time: its own regex


def check_published(event_type: str, data: dict) -> None:
    """Raise Breach when ``data`` (a dumped message) breaks its published schema."""
    try:
        _compiled(event_type)(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        where = (exc.name or "data").removeprefix("data").lstrip(".") or "_schema"
        raise Breach(f"{where}: {exc.message.removeprefix(exc.name or '').strip()}") from None
