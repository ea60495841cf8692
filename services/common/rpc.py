"""RPC entrypoints that check their arguments before any worker runs.

Every service's ``@rpc`` is this module's ``rpc``. Before a worker is spawned
the request is refused with ``BadRequest`` naming the argument (the caller
gets a ``RemoteError`` with ``exc_type == "BadRequest"``; the gateway answers
400) when:

* the payload is larger than ``RPC_MAX_BYTES``;
* an argument's type is not the one its annotation declares: an id or a
  filter given as an object (``{"$ne": null}``, ``{"$gt": ""}``) never reaches
  a query. Every parameter of an RPC method must be annotated; a missing
  annotation stops the service at start-up;
* an ``Id`` argument is empty, longer than 256 characters, holds a control
  character or starts with ``$`` (an aggregation field path or an operator);
* anywhere inside an argument, a mapping key starts with ``$``, contains ``.``
  or a NUL (MongoDB would read it as an operator or a path into another
  field), a list or mapping holds more than ``RPC_MAX_ITEMS`` entries, a
  string is longer than ``RPC_MAX_STRING``, or nesting is deeper than
  ``RPC_MAX_DEPTH``.

The checks are structural and cheap; each method still validates the meaning
of its arguments with its own schema.
"""

from __future__ import annotations

import inspect
import re
import types
from datetime import datetime
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

from nameko.rpc import Rpc

from services.common import settings
from services.common.errors import BadRequest


class _IdMark:
    """Marks ``Id``: a key of one stored object or a filter value."""


Id = Annotated[str, _IdMark()]
# An ISO 8601 time or a duration text; kombu's JSON carries datetimes as datetimes.
Moment = str | datetime

ID_MAX = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NONE = type(None)


def _members(annotation) -> tuple:
    """The accepted kinds of one annotation: a flat tuple of types, ``Id`` and ``Any``."""
    if annotation is Any:
        return (Any,)
    if get_origin(annotation) is Annotated:
        return (
            (Id,)
            if any(isinstance(m, _IdMark) for m in annotation.__metadata__)
            else _members(get_args(annotation)[0])
        )
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        out: tuple = ()
        for arg in get_args(annotation):
            out += _members(arg)
        return out
    if origin is not None:  # dict[str, Any], list[dict] ...
        return (origin,)
    if annotation is None:
        return (_NONE,)
    if annotation in (str, int, float, bool, dict, list, datetime, _NONE):
        return (annotation,)
    raise TypeError(f"no RPC argument check for {annotation!r}")


def parameter_rules(method) -> dict[str, tuple]:
    """``{parameter: accepted kinds}`` from the method's annotations (TypeError if one lacks it)."""
    hints = get_type_hints(method, include_extras=True)
    rules = {}
    for name in inspect.signature(method).parameters:
        if name == "self":
            continue
        if name not in hints:
            raise TypeError(
                f"RPC {method.__qualname__}: parameter {name!r} has no type annotation "
                "(RPC arguments are checked by type; services/common/rpc.py)"
            )
        rules[name] = _members(hints[name])
    return rules


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


_NAMES = {
    Id: "an id",
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "an object",
    list: "a list",
    datetime: "a time",
    _NONE: "null",
}


def _accepts(kind, value) -> bool:
    if kind is Any:
        return True
    if kind is _NONE:
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is Id:
        return isinstance(value, str)
    if kind is list:
        return isinstance(value, (list, tuple))
    return isinstance(value, kind)


def id_problem(value: str) -> str | None:
    """Why ``value`` is not an id (None when it is one)."""
    if not value:
        return "must not be empty"
    if len(value) > ID_MAX:
        return f"longer than {ID_MAX} characters"
    if value.startswith("$"):
        return "must not start with '$'"
    if _CONTROL.search(value):
        return "must not contain control characters"
    return None


def key_problem(key) -> str | None:
    """Why a mapping key may not reach the store (None when it may)."""
    if not isinstance(key, str):
        return "keys must be strings"
    if key.startswith("$"):
        return "keys must not start with '$'"
    if "." in key:
        return "keys must not contain '.'"
    if "\x00" in key:
        return "keys must not contain NUL"
    return None


class Limits:
    def __init__(self):
        self.items = settings.get("RPC_MAX_ITEMS")
        self.string = settings.get("RPC_MAX_STRING")
        self.depth = settings.get("RPC_MAX_DEPTH")


def check_structure(value, path: str, limits: Limits, errors: list[str], depth: int = 0) -> None:
    """Keys, sizes and depth of ``value``; appends ``path: problem`` lines to ``errors``."""
    if len(errors) >= 20:
        return
    if isinstance(value, str):
        if len(value) > limits.string:
            errors.append(f"{path}: longer than {limits.string} characters")
        return
    if not isinstance(value, (dict, list, tuple)):
        return
    if depth >= limits.depth:
        errors.append(f"{path}: nested deeper than {limits.depth} levels")
        return
    if len(value) > limits.items:
        errors.append(f"{path}: more than {limits.items} entries")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            problem = key_problem(key)
            if problem:
                errors.append(f"{path}.{key}: {problem}")
                continue
            check_structure(item, f"{path}.{key}", limits, errors, depth + 1)
    else:
        for index, item in enumerate(value):
            check_structure(item, f"{path}.{index}", limits, errors, depth + 1)


def check_arguments(rules: dict[str, tuple], arguments: dict) -> None:
    """Raise BadRequest naming every argument that breaks its rule."""
    errors: list[str] = []
    limits = Limits()
    for name, value in arguments.items():
        kinds = rules.get(name, (Any,))
        if not any(_accepts(kind, value) for kind in kinds):
            wanted = " or ".join(dict.fromkeys(_NAMES.get(k, "any value") for k in kinds))
            errors.append(f"{name}: must be {wanted}, not {_kind(value)}")
            continue
        if Id in kinds and isinstance(value, str):
            problem = id_problem(value)
            if problem:
                errors.append(f"{name}: {problem}")
                continue
        check_structure(value, name, limits, errors)
    if errors:
        raise BadRequest(errors)


class GuardedRpc(Rpc):
    """Nameko's RPC entrypoint with the argument checks above."""

    def setup(self):
        super().setup()
        method = getattr(self.container.service_cls, self.method_name)
        self.rules = parameter_rules(method)
        self.signature = inspect.signature(method)

    def handle_message(self, body, message):
        limit = settings.get("RPC_MAX_BYTES")
        size = len(message.body or b"")
        if limit and size > limit:
            raise BadRequest(f"payload: {size} bytes, more than RPC_MAX_BYTES ({limit})")
        super().handle_message(body, message)

    def check_signature(self, args, kwargs):
        super().check_signature(args, kwargs)
        bound = self.signature.bind(None, *args, **kwargs)
        check_arguments(self.rules, {k: v for k, v in bound.arguments.items() if k != "self"})


rpc = GuardedRpc.decorator


def bounded(name: str, value, low: int, high: int) -> int:
    """A paging or count argument as an integer from ``low`` to ``high``; else BadRequest naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{name}: must be an integer from {low} to {high}")
    return value


PAGE_MAX = 500  # a bigger page is cut to this
SKIP_MAX = 10**7


def page(limit, skip) -> tuple[int, int]:
    """``(limit, skip)`` of a list RPC, checked: limit ≥ 1 (cut to PAGE_MAX), 0 ≤ skip ≤ SKIP_MAX."""
    return min(bounded("limit", limit, 1, SKIP_MAX), PAGE_MAX), bounded("skip", skip, 0, SKIP_MAX)
