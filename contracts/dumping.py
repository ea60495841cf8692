"""A message schema's ``dump`` compiled into plain functions: what a producer runs on every
message it publishes (``services.common.messaging.serialize``).

marshmallow's ``Schema.dump`` walks its fields through several generic calls per value
(``serialize``, the accessor, ``get_value``, ``_serialize``); for the message schemas,
whose fields are strings, numbers, booleans, ISO times, nested schemas, lists and plain
dicts, that generic work is most of what a producer spends on a message. ``dumper``
builds, once per schema, one function per field that does exactly what that field's
``_serialize`` does, with the same value lookup (a missing key is skipped, ``dump_default``
applies) and the same output keys. A field or schema it does not know (another field
class, a subclass that changes serialising, dump hooks, dotted attributes, a time format
other than ISO) is left to marshmallow, so the output is always what ``Schema.dump``
gives; ``tests/unit/test_compiled_dump.py`` compares both on documents of every message
type. The published JSON Schema check that follows (contracts/published.py) is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from marshmallow import Schema, fields, missing, utils
from marshmallow.decorators import POST_DUMP, PRE_DUMP

from contracts.messages import schema_of

Convert = Callable[[Any], Any]
Dump = Callable[[Any], Any]
_ABSENT = object()


def _text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return str(value)


def _iso(value: Any) -> Any:
    return None if value is None else value.isoformat()


def _as_is(value: Any) -> Any:
    return value


def _number(num_type: type) -> Convert:
    def convert(value: Any) -> Any:
        return None if value is None else num_type(value)

    return convert


def _boolean(field: fields.Boolean) -> Convert:
    truthy, falsy = field.truthy, field.falsy

    def convert(value: Any) -> Any:
        if value is None:
            return None
        try:
            if value in truthy:
                return True
            if value in falsy:
                return False
        except TypeError:
            pass
        return bool(value)

    return convert


def _each(inner: Convert) -> Convert:
    def convert(value: Any) -> Any:
        return None if value is None else [inner(item) for item in value]

    return convert


def _mapping(mapping_type: type, keys: Convert | None, values: Convert | None) -> Convert:
    """``Mapping._serialize``, step for step (its keys first, then its values)."""

    def convert(value: Any) -> Any:
        if value is None:
            return None
        if keys is None and values is None:
            return mapping_type(value)
        key_map = {k: k for k in value} if keys is None else {k: keys(k) for k in value}
        result = mapping_type()
        if values is None:
            for k, v in value.items():
                if k in key_map:
                    result[key_map[k]] = v
        else:
            for k, v in value.items():
                result[key_map[k]] = values(v)
        return result

    return convert


def _nested(dump: Dump, many: bool) -> Convert:
    if many:
        return lambda value: None if value is None else [dump(item) for item in value]
    return lambda value: None if value is None else dump(value)


def _serialises_as(field: fields.Field, base: type) -> bool:
    return type(field)._serialize is base._serialize  # type: ignore[attr-defined]


def converter(field: fields.Field) -> Convert | None:
    """A function doing what ``field._serialize`` does with a value, or None when this
    module does not know the field."""
    if _serialises_as(field, fields.String):
        return _text
    if _serialises_as(field, fields.Number) and isinstance(field, fields.Number):
        if type(field)._format_num is fields.Number._format_num and not field.as_string:
            return _number(field.num_type)
        return None
    if _serialises_as(field, fields.Boolean) and isinstance(field, fields.Boolean):
        return _boolean(field)
    if _serialises_as(field, fields.DateTime) and isinstance(field, fields.DateTime):
        iso = (field.format or field.DEFAULT_FORMAT) == "iso"
        return _iso if iso and field.SERIALIZATION_FUNCS.get("iso") is utils.isoformat else None
    if _serialises_as(field, fields.Nested) and isinstance(field, fields.Nested):
        schema = field.schema
        return _nested(dumper(schema), bool(schema.many or field.many))
    if _serialises_as(field, fields.List) and isinstance(field, fields.List):
        inner = converter(field.inner)
        return None if inner is None else _each(inner)
    if _serialises_as(field, fields.Mapping) and isinstance(field, fields.Mapping):
        keys = None if field.key_field is None else converter(field.key_field)
        values = None if field.value_field is None else converter(field.value_field)
        if (field.key_field is not None and keys is None) or (
            field.value_field is not None and values is None
        ):
            return None
        return _mapping(field.mapping_type, keys, values)
    if type(field)._serialize is fields.Field._serialize:
        return _as_is
    return None


def _lookup(obj: Any, attr: str) -> Any:
    """marshmallow's value lookup for one key (``utils._get_value_for_key``)."""
    if type(obj) is dict:
        value = obj.get(attr, _ABSENT)
        return getattr(obj, attr, missing) if value is _ABSENT else value
    if not hasattr(obj, "__getitem__"):
        return getattr(obj, attr, missing)
    try:
        return obj[attr]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, attr, missing)


def _has_dump_hooks(schema: Schema) -> bool:
    return bool(schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP])


def _plain(schema: Schema, name: str, field: fields.Field) -> bool:
    """Whether the field's value is looked up as marshmallow's default accessor does (no
    dotted attribute, no overridden ``get_value`` or ``get_attribute``)."""
    return (
        field._CHECK_ATTRIBUTE
        and type(field).get_value is fields.Field.get_value
        and type(schema).get_attribute is Schema.get_attribute
        and "." not in (field.attribute or name)
    )


def _field_step(schema: Schema, name: str, field: fields.Field) -> Callable[[Any], Any]:
    """obj -> the field's dumped value, or ``missing`` to leave its key out."""
    attr = field.attribute or name
    convert = converter(field)
    if convert is None or not _plain(schema, name, field):
        return lambda obj: field.serialize(name, obj, accessor=schema.get_attribute)
    default = field.dump_default

    def step(obj: Any) -> Any:
        value = _lookup(obj, attr)
        if value is missing:
            value = default() if callable(default) else default
            if value is missing:
                return missing
        return convert(value)

    return step


def dumper(schema: Schema) -> Dump:
    """A function giving what ``schema.dump(obj)`` gives (one object, not ``many``)."""
    if _has_dump_hooks(schema):
        return lambda obj: schema.dump(obj, many=False)
    steps = [
        (field.data_key if field.data_key is not None else name, _field_step(schema, name, field))
        for name, field in schema.dump_fields.items()
    ]
    dict_class = schema.dict_class

    def dump(obj: Any) -> Any:
        out = dict_class()
        for key, step in steps:
            value = step(obj)
            if value is not missing:
                out[key] = value
        return out

    return dump


def uncompiled(schema: Schema, path: str = "") -> list[str]:
    """The fields of ``schema`` (nested ones included) that its dumper leaves to marshmallow."""
    if _has_dump_hooks(schema):
        return [path or "<schema>"]
    out = []
    for name, field in schema.dump_fields.items():
        where = f"{path}.{name}" if path else name
        if converter(field) is None or not _plain(schema, name, field):
            out.append(where)
        elif isinstance(field, fields.Nested):
            out.extend(uncompiled(field.schema, where))
        elif isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            out.extend(uncompiled(field.inner.schema, where))
    return out


@cache
def message_dumper(event_type: str) -> Dump:
    """The compiled dump of a message type's schema (KeyError when the type is unknown)."""
    return dumper(schema_of(event_type))
