"""HTTP API and agent console (docs/api.md)."""

from . import settings  # noqa: F401  (declares its settings before any of its code runs)
