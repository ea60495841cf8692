"""HTTP API and agent console (docs/api.md)."""
