"""Delivery channels: one module per channel, each with ``send(...)`` and its config."""
