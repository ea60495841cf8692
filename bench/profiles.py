"""Profiles benchmark: what rolling-on-read and alias checks cost on the store.

    PYTHONPATH=. .venv/bin/python bench/profiles.py

Every figure is a ratio to a baseline measured in the same run on the same
server: ``find_one`` of the profile by ``_id`` (one round trip).

1. ``get_profile`` with rolling scores for customers with 10, 100 and 1000
   feedback entries in the last 90 days (what an agent opening a profile pays),
   against the same read without the rolling-score query.
2. ``record_feedback`` per event (the write path, including the alias and
   erasure look-ups before and after each write), against the baseline.
3. The write path as a customer's timeline grows: ``record_feedback`` of a
   commented event for a customer who already has 0, 1,000 and 3,000 timeline
   entries (``--grown``; run it with another checkout first on PYTHONPATH to
   compare code versions on the same server).
4. The ``nps_drop`` segment over every VIP of a 1000-customer store.

Uses a fresh database (``bench_profiles_<hex>``) and drops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

from contracts.feedback import parse_feedback
from services.common.mongo import make_client
from services.profiles.profile import timeline_entry
from services.profiles.store import ProfileStore

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def event(n: int, customer: str, days_ago: float, tier: str = "standard", text: str | None = None) -> dict:
    body = {
        "schema_version": 1,
        "event_id": f"b{n}",
        "source": "bench",
        "channel": ("app", "wechat", "phone")[n % 3],
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "customer": {"id": customer, "name": f"客户{n}", "phone": "13800138000", "tier": tier},
        "scores": {"nps": n % 11, "csat": 1 + n % 5},
    }
    if text:
        body["text"] = text
    return parse_feedback(body)


COMMENT = "快递太慢了，客服电话一直占线，非常不满意"


def grown_timeline(store: ProfileStore, sizes: tuple[int, ...], repeat: int) -> list[tuple[str, float]]:
    """Median ms of recording one commented event for a customer with ``size`` entries."""
    rows = []
    store.recorder.record_feedback(event(299_999, "warm-up", 1, text=COMMENT))  # text analysis loads once
    for size in sizes:
        customer = f"G{size}"
        seed = [event(300_000 + size + i, customer, days_ago=i / 24, text=COMMENT) for i in range(size)]
        for chunk in range(0, size, 1000):
            store.db.timeline.insert_many([timeline_entry(e, customer) for e in seed[chunk : chunk + 1000]])
        fresh = iter(event(400_000 + size * 10 + i, customer, 0.01 * i, text=COMMENT) for i in range(repeat))
        ms = timed(lambda f=fresh: store.recorder.record_feedback(next(f)), repeat)
        rows.append((f"record_feedback, customer with {size} timeline entries", ms))
    return rows


def timed(fn, repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--grown", action="store_true", help="only the growing-timeline write path")
    args = parser.parse_args()
    client = make_client(os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/"))
    name = f"bench_profiles_{uuid.uuid4().hex[:8]}"
    store = ProfileStore(client[name])
    store.ensure_indexes()
    rows = []
    if args.grown:
        try:
            baseline = timed(lambda: store.db.profiles.find_one({"_id": "none"}), args.repeat)
            rows = [("baseline: find_one(profile)", baseline)]
            rows += grown_timeline(store, (0, 1000, 3000), max(3, args.repeat // 4))
        finally:
            client.drop_database(name)
        return report(rows, baseline)
    try:
        n = 0
        sizes = (10, 100, 1000)
        for size in sizes:
            entries = []
            for i in range(size):
                n += 1
                e = event(n, f"S{size}", days_ago=90 * i / size)
                entries.append(timeline_entry(e, f"S{size}"))
            store.db.timeline.insert_many(entries)
            store.recorder.record_feedback(event(n + 1, f"S{size}", 0.5))
            n += 1
        baseline = timed(lambda: store.db.profiles.find_one({"_id": "S10"}), args.repeat)
        rows.append(("baseline: find_one(profile)", baseline))
        for size in sizes:
            with_rolling = timed(lambda s=size: store.queries.get_profile(f"S{s}", 20, now=NOW), args.repeat)
            rolling_only = timed(
                lambda s=size: store.queries.rolling_scores({"_id": f"S{s}"}, NOW), args.repeat
            )
            rows.append((f"get_profile, {size} entries in 90 days", with_rolling))
            rows.append(("  of which rolling scores", rolling_only))
        events = [event(100_000 + i, f"W{i % 50}", days_ago=i / 10) for i in range(300)]
        started = time.perf_counter()
        for e in events:
            store.recorder.record_feedback(e)
        per_event = (time.perf_counter() - started) * 1000 / len(events)
        rows.append(("record_feedback per event (300 events, 50 customers)", per_event))
        resolve = timed(lambda: store.identity.resolve("W1"), args.repeat)
        rows.append(("  of which one alias look-up", resolve))
        bulk = []
        for c in range(args.customers):
            tier = "vip" if c % 7 == 0 else "standard"
            for k, days in enumerate((45, 5)):
                bulk.append(event(200_000 + 2 * c + k, f"V{c}", days, tier))
        for e in bulk:
            store.recorder.record_feedback(e)
        vips = store.db.profiles.count_documents({"identity.tier": "vip"})
        segment = timed(
            lambda: store.queries.segment_nps_drop("vip", 2, NOW, 50, 0), max(3, args.repeat // 10)
        )
        rows.append((f"segment nps_drop over {vips} VIPs of {args.customers} customers", segment))
    finally:
        client.drop_database(name)
    report(rows, baseline)


def report(rows: list[tuple[str, float]], baseline: float) -> None:
    print(f"profiles benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, median ms")
    print("| measurement | ms | ratio to baseline |")
    print("|---|---|---|")
    for label, ms in rows:
        print(f"| {label} | {ms:.2f} | {ms / baseline:.1f} |")


if __name__ == "__main__":
    main()
