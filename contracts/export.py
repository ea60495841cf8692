"""Export the contracts as JSON Schema files and one AsyncAPI document.

    python -m contracts.export           # rewrite contracts/jsonschema/*.json and asyncapi.yaml
    python -m contracts.export --check   # exit 1 when the checked-in files are stale

Only the marshmallow field types the contracts use are mapped; an unmapped
type raises, so a new field type cannot silently export as ``{}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml
from marshmallow import INCLUDE, Schema, fields, validate

from contracts.base import KEY_PATTERN, StrictInt
from contracts.feedback import FEEDBACK_EXCHANGE, ROUTING_KEY_PATTERN, FeedbackEventV1
from contracts.messages import MESSAGES

HERE = Path(__file__).parent
JSONSCHEMA_DIR = HERE / "jsonschema"
ASYNCAPI_FILE = HERE / "asyncapi.yaml"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
DEAD_LETTER_EXCHANGE = "cx.dlx"


def _constraints(field: fields.Field, out: dict) -> None:
    validators = field.validators if isinstance(field.validators, list) else [field.validators]
    for v in validators:
        if isinstance(v, validate.Length):
            lo, hi = ("minLength", "maxLength") if out.get("type") == "string" else ("minItems", "maxItems")
            if v.min is not None:
                out[lo] = v.min
            if v.max is not None:
                out[hi] = v.max
        elif isinstance(v, validate.Range):
            if v.min is not None:
                out["minimum"] = v.min
            if v.max is not None:
                out["maximum"] = v.max
        elif isinstance(v, validate.OneOf):
            out["enum"] = list(v.choices)
        elif isinstance(v, validate.Regexp):
            out["pattern"] = v.regex.pattern


def field_schema(field: fields.Field) -> dict:
    if isinstance(field, fields.Nested):
        target = field.nested
        nested = target if isinstance(target, Schema) else target()  # type: ignore[operator]
        out = schema_object(nested)  # type: ignore[arg-type]  # our contracts nest schemas only
    elif isinstance(field, fields.List):
        out = {"type": "array", "items": field_schema(field.inner)}
    elif isinstance(field, fields.Dict):
        out = {"type": "object"}
        if _open(field.parent):
            out["propertyNames"] = {"pattern": KEY_PATTERN}
        if field.value_field is not None:
            out["additionalProperties"] = field_schema(field.value_field)
    elif isinstance(field, (fields.AwareDateTime, fields.DateTime)):
        out = {"type": "string", "format": "date-time"}
    elif isinstance(field, (StrictInt, fields.Integer)):
        out = {"type": "integer"}
    elif isinstance(field, fields.Float):
        out = {"type": "number"}
    elif isinstance(field, fields.Boolean):
        out = {"type": "boolean"}
    elif isinstance(field, fields.String):
        out = {"type": "string"}
    else:  # pragma: no cover - guarded by the module docstring's promise
        raise TypeError(f"no JSON Schema mapping for {type(field).__name__}")
    _constraints(field, out)
    if field.allow_none:
        out["type"] = [out["type"], "null"]
    description = field.metadata.get("description")
    if description:
        out["description"] = description
    return out


def schema_object(schema: Schema) -> dict:
    props = {name: field_schema(f) for name, f in schema.fields.items()}
    required = [name for name, f in schema.fields.items() if f.required]
    out: dict = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    # Readers ignore (messages) or keep (feedback) unknown fields: never reject them.
    out["additionalProperties"] = True
    doc = (type(schema).__doc__ or "").strip().splitlines()
    if doc:
        out["description"] = doc[0]
    if _open(schema):
        out["x-unknown-fields"] = "kept"
        out["propertyNames"] = {"pattern": KEY_PATTERN}
        out["x-key-rule"] = "object keys, at any depth, must not start with '$' or contain '.' or NUL"
    return out


def _open(schema) -> bool:
    """A schema that keeps unknown fields (the feedback contract's objects)."""
    return isinstance(schema, Schema) and type(schema).Meta.unknown == INCLUDE


def message_schema(name: str, schema: Schema, version: int) -> dict:
    body = schema_object(schema)
    body["properties"]["schema_version"]["const"] = version
    return {"$schema": DIALECT, "$id": f"urn:cx:contracts:{name}:v{version}", "title": name, **body}


def build_jsonschemas() -> dict[str, dict]:
    out = {"feedback_event.v1.json": message_schema("feedback_event", FeedbackEventV1(), 1)}
    for spec in MESSAGES.values():
        version = spec.schema.SCHEMA_VERSION
        out[f"{spec.name}.v{version}.json"] = message_schema(spec.name, spec.schema(), version)
    return out


def _strip_meta(schema: dict) -> dict:
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


def _amqp_exchange(name: str) -> dict:
    return {
        "amqp": {
            "is": "routingKey",
            "exchange": {"name": name, "type": "topic", "durable": True, "autoDelete": False, "vhost": "/"},
        }
    }


def _public_channels() -> dict:
    """The feedback exchange integrations publish to, and the dead-letter exchange."""
    amqp_exchange = _amqp_exchange
    return {
        f"{FEEDBACK_EXCHANGE}/{ROUTING_KEY_PATTERN}": {
            "description": "Integrations publish customer feedback here (persistent, JSON, "
            "publisher confirms). Each consuming service binds its own durable queue "
            "with routing key feedback.#.",
            "parameters": {"channel": {"description": "the event's channel field"}},
            "bindings": amqp_exchange(FEEDBACK_EXCHANGE),
            "publish": {
                "operationId": "publishFeedback",
                "message": {"$ref": "#/components/messages/feedback_event"},
            },
        },
        f"{DEAD_LETTER_EXCHANGE}/{{queue}}": {
            "description": "Messages a consumer could not accept, published with the original "
            "body and headers x-cx-reason, x-cx-queue, x-cx-attempts; one durable queue "
            "<queue>.dlq per consuming queue.",
            "parameters": {"queue": {"description": "the queue that rejected the message"}},
            "bindings": amqp_exchange(DEAD_LETTER_EXCHANGE),
            "subscribe": {
                "operationId": "deadLetters",
                "message": {
                    "name": "dead_letter",
                    "payload": {"description": "the original body, unchanged"},
                },
            },
        },
    }


def build_asyncapi() -> dict:
    amqp_exchange = _amqp_exchange
    feedback = _strip_meta(message_schema("feedback_event", FeedbackEventV1(), 1))
    channels = _public_channels()
    messages = {
        "feedback_event": {"name": "feedback_event", "contentType": "application/json", "payload": feedback}
    }
    for spec in MESSAGES.values():
        version = spec.schema.SCHEMA_VERSION
        messages[spec.name] = {
            "name": spec.name,
            "contentType": "application/json",
            "summary": spec.description,
            "payload": _strip_meta(message_schema(spec.name, spec.schema(), version)),
        }
        channels[f"{spec.exchange}/{spec.name}"] = {
            "description": f"Nameko event '{spec.name}' from the {spec.producer} service.",
            "bindings": amqp_exchange(spec.exchange),
            "subscribe": {
                "operationId": f"on_{spec.name}",
                "message": {"$ref": f"#/components/messages/{spec.name}"},
            },
        }
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "CX alerting and case escalation",
            "version": "1.0.0",
            "description": "Generated by `python -m contracts.export`; do not edit.",
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"url": "127.0.0.1:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}},
        "channels": channels,
        "components": {"messages": messages},
    }


def render() -> dict[Path, str]:
    files = {
        JSONSCHEMA_DIR / name: json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
        for name, doc in build_jsonschemas().items()
    }
    files[ASYNCAPI_FILE] = yaml.safe_dump(build_asyncapi(), sort_keys=False, allow_unicode=True)
    return files


def stale_files() -> list[str]:
    rendered = render()
    stale = [
        str(p) for p, text in rendered.items() if not p.exists() or p.read_text(encoding="utf-8") != text
    ]
    extra = set(JSONSCHEMA_DIR.glob("*.json")) - set(rendered)
    return stale + [f"{p} (no longer generated)" for p in sorted(extra)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when checked-in files are stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        if stale:
            print("run: python -m contracts.export", file=sys.stderr)
        return 1 if stale else 0
    JSONSCHEMA_DIR.mkdir(exist_ok=True)
    for target, text in render().items():
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
