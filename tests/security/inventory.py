"""What the security tests enumerate: every service class and its RPC methods."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

from nameko.rpc import Rpc

ROOT = Path(__file__).resolve().parents[2]


def service_classes() -> list[type]:
    """Every Nameko service class in services/<name>/service.py."""
    out = []
    for path in sorted((ROOT / "services").glob("*/service.py")):
        module = importlib.import_module(f"services.{path.parent.name}.service")
        out += [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if cls.__module__ == module.__name__ and isinstance(getattr(cls, "name", None), str)
        ]
    return out


def rpc_methods(cls) -> list[tuple[str, Any, list]]:
    """(name, function, RPC entrypoints) of each RPC method of a service class."""
    out = []
    for name, member in inspect.getmembers(cls):
        entrypoints = getattr(member, "nameko_entrypoints", ())
        rpcs = [e for e in entrypoints if isinstance(e, Rpc)]  # nameko's, or a subclass
        if rpcs:
            out.append((name, member, rpcs))
    return out
