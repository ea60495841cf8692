"""A message schema's ``load`` compiled into plain functions, for what the consumers read
(``services.common.messaging.ContractConsumer.parse``, ``parse_many``).

``Schema.load`` spends most of a message's time in its generic machinery (an error store,
a getter per field, hook look-ups, the unknown-field pass, a full ``load`` per nested
object) rather than in the fields' own conversions. ``loader`` builds, once per schema, a
function that reads each declared key and hands it to the field's own ``deserialize``
(which checks required and null, converts and runs the field's validators), recurses
into nested schemas, lists and dicts itself, leaves undeclared keys out as ``EXCLUDE``
does (or refuses them where a schema says ``RAISE``) and runs the schema's
``@validates`` methods, and a schema's pre-load, whole-schema validation and post-load
hooks as ``Schema.load`` runs them. It only ever answers for a message marshmallow accepts: at the
first problem of any kind it hands the whole message to ``Schema.load``, which then
gives its usual result or its usual ``ValidationError`` (the field paths and messages
that dead-letter reasons and API errors show). A nested schema with hooks of its own, a
field of a kind this module does not know and ``many`` schemas are left to marshmallow.
``tests/unit/test_compiled_load.py`` compares both on valid and broken documents of
every message type.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from marshmallow import EXCLUDE, INCLUDE, RAISE, Schema, fields, missing
from marshmallow.decorators import POST_LOAD, PRE_LOAD, VALIDATES, VALIDATES_SCHEMA
from marshmallow.error_store import ErrorStore
from marshmallow.validate import Validator

Load = Callable[[Any], Any]


class _Refer(Exception):
    """Not for the fast path: marshmallow decides (and names the problem)."""


def _check(validators: tuple, value: Any) -> None:
    """The field's validators on ``value`` (``Field._validate``), stopping at the first
    problem: marshmallow names them all when it decides."""
    for validator in validators:
        if validator(value) is False and not isinstance(validator, Validator):
            raise _Refer


def _has_load_hooks(schema: Schema) -> bool:
    return bool(schema._hooks[PRE_LOAD] or schema._hooks[POST_LOAD] or schema._hooks[VALIDATES_SCHEMA])


def _nested_load(field: fields.Nested) -> Load | None:
    schema = field.schema
    if field.only is not None or field.exclude or schema.many or field.many or _has_load_hooks(schema):
        return None
    return _object_loader(schema, field.unknown or schema.unknown)


def _value_step(field: fields.Field) -> Callable[[Any, Any, Any], Any] | None:
    """(raw value, its key, the object it is in) -> the loaded value, for a value that is
    present and not None; None when the field cannot be taken on the fast path."""
    validators = tuple(field.validators)
    if isinstance(field, fields.Nested) and type(field)._deserialize is fields.Nested._deserialize:
        inner = _nested_load(field)
        if inner is None:
            return None

        def nested(raw: Any, key: Any, data: Any) -> Any:
            out = inner(raw)
            _check(validators, out)
            return out

        return nested
    if isinstance(field, fields.List) and type(field)._deserialize is fields.List._deserialize:
        item = _item_step(field.inner)
        if item is None:
            return None

        def each(raw: Any, key: Any, data: Any) -> Any:
            if type(raw) is not list:
                raise _Refer
            out = [item(value) for value in raw]
            _check(validators, out)
            return out

        return each
    if isinstance(field, fields.Mapping) and type(field)._deserialize is fields.Mapping._deserialize:
        keys = None if field.key_field is None else _item_step(field.key_field)
        values = None if field.value_field is None else _item_step(field.value_field)
        if (field.key_field is not None and keys is None) or (
            field.value_field is not None and values is None
        ):
            return None
        mapping_type = field.mapping_type

        def mapping(raw: Any, key: Any, data: Any) -> Any:
            if type(raw) is not dict:
                raise _Refer
            if keys is None and values is None:
                out = mapping_type(raw)
            else:
                out = mapping_type()
                for k, v in raw.items():
                    out[k if keys is None else keys(k)] = v if values is None else values(v)
            _check(validators, out)
            return out

        return mapping
    if isinstance(field, (fields.Nested, fields.List, fields.Mapping)):
        return None
    if type(field)._deserialize is fields.String._deserialize:

        def text(raw: Any, key: Any, data: Any) -> Any:
            if type(raw) is not str:
                raise _Refer
            _check(validators, raw)
            return raw

        return text

    def leaf(raw: Any, key: Any, data: Any) -> Any:
        out = field._deserialize(raw, key, data)
        _check(validators, out)
        return out

    return leaf


def _item_step(field: fields.Field) -> Callable[[Any], Any] | None:
    """An item of a list or a key or value of a dict: ``field.deserialize(value)`` as the
    container calls it (None by the field's own rules)."""
    step = _value_step(field)
    if step is None:
        return None

    def contained(value: Any) -> Any:
        if value is None:
            return field.deserialize(value)
        return step(value, None, None)

    return contained


def _object_loader(schema: Schema, unknown: str) -> Load:
    steps = []
    for name, field in schema.load_fields.items():
        attr = field.attribute or name
        step = _value_step(field)
        if step is None or "." in attr:
            raise _Refer
        key = field.data_key if field.data_key is not None else name
        steps.append((key, attr, field, step))
    known = frozenset(key for key, *_ in steps)
    checks = []
    for hook_name, _, hook in schema._hooks[VALIDATES]:
        checked = schema.fields.get(hook["field_name"])
        if checked is None:
            raise _Refer
        checks.append((checked.attribute or hook["field_name"], getattr(schema, hook_name)))
    if unknown not in (EXCLUDE, RAISE, INCLUDE):
        raise _Refer
    dict_class = schema.dict_class

    def load(data: Any) -> Any:
        if type(data) is not dict:
            raise _Refer
        out = dict_class()
        for key, attr, field, step in steps:
            raw = data.get(key, missing)
            if raw is missing or raw is None:
                value = field.deserialize(raw, key, data)  # required / null / load_default
                if value is missing:
                    continue
            else:
                value = step(raw, key, data)
            out[attr] = value
        if unknown != EXCLUDE and not known.issuperset(data):
            if unknown == RAISE:
                raise _Refer
            for key in data:
                if key not in known:
                    out[key] = data[key]
        for attr, check in checks:
            if attr in out and check(out[attr]) is missing:
                raise _Refer
        return out

    return load


def _with_hooks(schema: Schema, core: Load) -> Load:
    """``core`` between the schema's pre-load processors, whole-schema validators and
    post-load processors, called as ``Schema._do_load`` calls them (marshmallow 3.26)."""
    partial = schema.partial

    def load(data: Any) -> Any:
        processed = data
        if schema._hooks[PRE_LOAD]:
            processed = schema._invoke_load_processors(
                PRE_LOAD, data, many=False, original_data=data, partial=partial
            )
        result = core(processed)
        if schema._hooks[VALIDATES_SCHEMA]:
            store = ErrorStore()
            for pass_many in (True, False):
                schema._invoke_schema_validators(
                    error_store=store,
                    pass_many=pass_many,
                    data=result,
                    original_data=data,
                    many=False,
                    partial=partial,
                    field_errors=False,
                )
            if store.errors:
                raise _Refer
        if schema._hooks[POST_LOAD]:
            result = schema._invoke_load_processors(
                POST_LOAD, result, many=False, original_data=data, partial=partial
            )
        return result

    return load


def loader(schema: Schema) -> Load:
    """A function giving what ``schema.load(data)`` gives, or raising what it raises."""
    try:
        core = None if schema.many else _object_loader(schema, schema.unknown)
    except _Refer:
        core = None
    if core is None:
        return schema.load
    compiled = _with_hooks(schema, core) if _has_load_hooks(schema) else core

    def load(data: Any) -> Any:
        try:
            return compiled(data)
        except Exception:  # noqa: BLE001 - whatever it was, marshmallow says what is wrong
            return schema.load(data)

    load.fast = compiled  # type: ignore[attr-defined]
    return load


def fast_path(schema: Schema) -> Load | None:
    """The fast path of ``loader(schema)`` alone (it raises where marshmallow would have to
    decide), or None when the schema is always left to marshmallow."""
    return getattr(loader(schema), "fast", None)


@cache
def message_loader(event_type: str) -> Load:
    """The compiled load of a message type's schema (KeyError when the type is unknown)."""
    from contracts.messages import schema_of  # contracts.messages is built on this package

    return loader(schema_of(event_type))
