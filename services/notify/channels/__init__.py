"""Delivery channels: one folder per channel, each exporting ``CHANNEL``.

A folder exporting ``CUSTOMER_CHANNEL`` (a ``CustomerChannel``) sends messages to
customers (``sms``, ``email``, ``wechat_oa``; ``customers/``).

Adding a channel means adding a folder with its handle schema, payload builder,
signer, sender and tests; ``discover()`` finds it. See ``base.py`` for the
interface.
"""

from __future__ import annotations

import importlib
import pkgutil

from services.notify.channels.base import Channel, CustomerChannel


def discover(attribute: str = "CHANNEL") -> dict:
    """Every channel class in this package exporting ``attribute``, by name: ``CHANNEL``
    for owner notifications, ``CUSTOMER_CHANNEL`` for messages to customers."""
    found: dict = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        cls = getattr(module, attribute, None)
        if cls is not None:
            found[cls.name] = cls
    return dict(sorted(found.items()))


CHANNELS: dict[str, type[Channel]] = discover("CHANNEL")
CUSTOMER_CHANNELS: dict[str, type[CustomerChannel]] = discover("CUSTOMER_CHANNEL")
