"""Text analysis and in-memory rule evaluation speed (no broker, no database).

    .venv/bin/python bench/text.py

Measures ``textanalysis.text.analyze`` on the sample stream's comments,
uncached (distinct texts, cache cleared) and cached (the same texts again), and
the engine over samples/rules.yaml on in-memory state. Prints JSON; figures are
for scale only (shared, noisy machines) and are never asserted in tests.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from contracts.feedback import parse_feedback
from services.alerts.engine import Engine
from services.alerts.memory import MemoryState
from services.alerts.rules import load_rules
from textanalysis.text import analyze, keyword_idf, tokenizer

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    lines = (ROOT / "samples/feedback.jsonl").read_text("utf-8").splitlines()
    events = sorted((parse_feedback(line) for line in lines), key=lambda e: e["occurred_at"])
    texts = [f"{e['text']} #{i}" for i, e in enumerate(events) if e.get("text")]  # all distinct
    started = time.perf_counter()
    tokenizer()
    keyword_idf()
    warm_up = time.perf_counter() - started
    analyze.cache_clear()
    started = time.perf_counter()
    for text in texts:
        analyze(text)
    uncached = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(10):
        for text in texts:
            analyze(text)
    cached = (time.perf_counter() - started) / 10
    rules = [
        dict(r, version=1)
        for r in load_rules(yaml.safe_load((ROOT / "samples/rules.yaml").read_text("utf-8")))
    ]
    analyze.cache_clear()
    started = time.perf_counter()
    engine = Engine(MemoryState())
    for event in events:
        engine.process(rules, event, datetime.now(UTC))
    engine_s = time.perf_counter() - started
    print(
        json.dumps(
            {
                "tokenizer_load_s": round(warm_up, 3),
                "comments": len(texts),
                "analyze_uncached_per_s": round(len(texts) / uncached),
                "analyze_uncached_us": round(uncached / len(texts) * 1e6),
                "analyze_cached_us": round(cached / len(texts) * 1e6, 2),
                "engine_events": len(events),
                "engine_rules": len(rules),
                "engine_events_per_s_memory_state": round(len(events) / engine_s),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
