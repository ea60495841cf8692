"""How many cases the fuzz tests run: ``FUZZ_CASES`` (1,000 by default; docs/security.md)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_CASES = int(os.environ.get("FUZZ_CASES", "1000"))

# a fifth of FUZZ_CASES (200 by default) for the in-process document fuzzers (rules,
# templates): each case is a whole document
DOCUMENT_CASES = max(50, FUZZ_CASES // 5)
DOCUMENT_SETTINGS = settings(
    max_examples=DOCUMENT_CASES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
