"""Delivery channels: one folder per channel, each exporting ``CHANNEL``.

Adding a channel means adding a folder with its handle schema, payload builder,
signer, sender and tests; ``discover()`` finds it. See ``base.py`` for the
interface.
"""

from __future__ import annotations

import importlib
import pkgutil

from services.notify.channels.base import Channel


def discover() -> dict[str, type[Channel]]:
    """Every channel class in this package, by name."""
    found: dict[str, type[Channel]] = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        cls = getattr(module, "CHANNEL", None)
        if cls is not None:
            found[cls.name] = cls
    return dict(sorted(found.items()))


CHANNELS = discover()
