"""Memory measured, not guessed: store footprint per profile / per open case, and RSS.

Store footprint: every document a service wrote during a benchmark run (its whole
database: profiles with their timeline, counters and inbox entries; cases with
their open keys, escalation steps, audit entries ...) is copied again and again
into a scratch database with the same indexes, each copy given distinct ids,
until the scratch database holds ``target`` units (profiles or cases). The
store's own ``dbStats`` (data + index bytes) is read at half the target and at
the target; the slope between the two is the marginal cost of one unit, so the
fixed cost of an empty database drops out, and it is extrapolated linearly to
1M profiles / 100k cases. The encoded BSON size of the same documents is
reported too: it is what a MongoDB server would store before compression and
indexes, independent of the embedded store's page layout.

RSS: ``VmRSS`` of each service process from ``/proc/<pid>/status``.
"""

from __future__ import annotations

import math
import time
import uuid
from pathlib import Path

import bson
from bson import ObjectId
from pymongo import IndexModel, MongoClient

from bench.pipeline import drop_databases

INDEX_OPTIONS = ("unique", "sparse", "partialFilterExpression", "collation")


def rss_bytes(pid: int) -> int | None:
    """The resident set size of a live process, None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def identifiers(collections: dict[str, list[dict]], unique_fields: dict[str, set[str]]) -> set[str]:
    """Strings that identify something (string ``_id`` values, values of uniquely
    indexed fields): a copy rewrites every occurrence so copies stay distinct and
    cross-references stay consistent."""
    ids: set[str] = set()
    for name, docs in collections.items():
        for doc in docs:
            for field in {"_id", *unique_fields.get(name, ())}:
                value = doc.get(field)
                if isinstance(value, str):
                    ids.add(value)
    return ids


def relabel(value, ids: set[str], suffix: str):
    """``value`` with every string in ``ids`` (as a value or a key) given ``suffix``."""
    if isinstance(value, str):
        return value + suffix if value in ids else value
    if isinstance(value, dict):
        return {relabel(k, ids, suffix): relabel(v, ids, suffix) for k, v in value.items()}
    if isinstance(value, list):
        return [relabel(v, ids, suffix) for v in value]
    return value


def copy_of(doc: dict, ids: set[str], suffix: str) -> dict:
    out = relabel(doc, ids, suffix)
    key = doc.get("_id")
    if isinstance(key, ObjectId):
        out["_id"] = ObjectId()
    elif out.get("_id") == key:  # an _id not listed (a number, a subdocument): make it distinct
        out["_id"] = f"{key}{suffix}"
    return out


def _indexes(source, name: str) -> tuple[list[IndexModel], set[str]]:
    models, unique = [], set()
    for index_name, info in source[name].index_information().items():
        if index_name == "_id_":
            continue
        options = {k: info[k] for k in INDEX_OPTIONS if k in info}  # no TTL: nothing may expire mid-count
        models.append(IndexModel(list(info["key"]), name=index_name, **options))
        if info.get("unique"):
            unique.update(field for field, _ in info["key"])
    return models, unique


def _stats(db) -> dict:
    s = db.command("dbStats")
    return {"data": s.get("dataSize", 0), "index": s.get("indexSize", 0), "storage": s.get("storageSize", 0)}


def store_footprint(client: MongoClient, source_db: str, unit: str, target: int, batch: int = 1000) -> dict:
    """Bytes per document of collection ``unit`` (with everything else the service
    wrote alongside it), measured on copies of ``source_db``'s real documents."""
    source = client[source_db]
    names = sorted(n for n in source.list_collection_names() if not n.startswith("system."))
    collections = {n: list(source[n].find()) for n in names}
    units = len(collections.get(unit, []))
    if units == 0:
        raise RuntimeError(f"{source_db}.{unit} is empty: nothing to measure")
    indexes, unique = {}, {}
    for n in names:
        indexes[n], unique[n] = _indexes(source, n)
    ids = identifiers(collections, unique)
    scratch_name = f"footprint{uuid.uuid4().hex[:8]}"
    scratch = client[scratch_name]
    rounds = max(2, math.ceil(target / units))  # two points at least: the slope drops the fixed cost
    half = max(1, rounds // 2)
    points = []
    started = time.perf_counter()
    try:
        for n in names:
            if indexes[n]:
                scratch[n].create_indexes(indexes[n])
        for r in range(rounds):
            suffix = f"~{r}"
            for n in names:
                docs = [copy_of(d, ids, suffix) for d in collections[n]]
                for i in range(0, len(docs), batch):
                    scratch[n].insert_many(docs[i : i + batch], ordered=False)
            if r + 1 in (half, rounds):
                points.append((scratch[unit].count_documents({}), _stats(scratch)))
    finally:
        drop_databases(scratch_name)
    (u1, s1), (u2, s2) = points[0], points[-1]
    bson_bytes = {n: sum(len(bson.encode(d)) for d in docs) for n, docs in collections.items()}

    def per_unit(key: str) -> float:
        if u2 == u1:
            return s2[key] / u2
        return (s2[key] - s1[key]) / (u2 - u1)

    return {
        "source": source_db,
        "unit": unit,
        "source_units": units,
        "source_documents": {n: len(d) for n, d in collections.items()},
        "copied_units": u2,
        "copy_seconds": time.perf_counter() - started,
        "points": [{"units": u, **s} for u, s in points],
        "store_bytes_per_unit": {"data": per_unit("data"), "index": per_unit("index")},
        "bson_bytes_per_unit": sum(bson_bytes.values()) / units,
        "bson_bytes_per_unit_by_collection": {n: b / units for n, b in bson_bytes.items()},
    }


def extrapolate(footprint: dict, units: int) -> dict:
    """Linear extrapolation of a footprint to ``units`` (bytes)."""
    per = footprint["store_bytes_per_unit"]
    return {
        "units": units,
        "store_bytes": (per["data"] + per["index"]) * units,
        "store_data_bytes": per["data"] * units,
        "store_index_bytes": per["index"] * units,
        "bson_bytes": footprint["bson_bytes_per_unit"] * units,
    }
