"""The notify service."""

from . import settings  # noqa: F401  (declares its settings before any of its code runs)
