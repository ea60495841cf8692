"""The playbook library (标准解决方案) and the record of each use: playbooks are saved as
versions (who, when, why), read once per revision (``ConfigCache``); each use of a
playbook on a case is one document, once per use key.

A use carries its time twice: ``at`` (a date, for people) and ``at_ts`` (epoch
seconds), which period queries range over: the embedded store's ``find`` compares
dates at whole seconds (a use at 10:00:00.640 is not found ``$lt`` 10:00:00.673;
tests/store/test_conformance.py), numbers exactly, as MongoDB does both."""

from __future__ import annotations

import copy
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.cases.stores import CAS_ATTEMPTS
from services.common.errors import BadRequest, NotFound
from services.common.mongo import ConfigCache


class PlaybookLibrary:
    """``playbooks`` (the current version of each), ``playbooks_versions`` (every
    version) and ``playbook_uses`` (each use on a case)."""

    def __init__(self, db):
        self.db = db
        self.cache = ConfigCache(db, lambda: list(self.db.playbooks.find().sort("_id", ASCENDING)))

    def indexes(self) -> dict[str, list]:
        return {
            "playbooks_versions": [
                IndexModel([("id", ASCENDING), ("version", DESCENDING)], name="id_version")
            ],
            "playbook_uses": [
                IndexModel([("case_id", ASCENDING), ("at", ASCENDING)], name="case_at"),
                IndexModel([("playbook_id", ASCENDING), ("at", ASCENDING)], name="playbook_at"),
                IndexModel([("at_ts", ASCENDING)], name="at_ts"),
            ],
        }

    # the library ---------------------------------------------------------------------

    def save(self, playbook: dict, *, by: str, why: str | None, at: datetime) -> tuple[int, bool]:
        """Store ``playbook`` as a new version unless it is unchanged: (version, changed).
        The version number comes from a conditional update, so two admins saving at once
        get two versions, never one overwritten."""
        for _ in range(CAS_ATTEMPTS):
            current = self.db.playbooks.find_one({"_id": playbook["id"]})
            if current is not None and current["playbook"] == playbook:
                return current["version"], False
            version = (current or {}).get("version", 0) + 1
            doc = {"_id": playbook["id"], "version": version, "playbook": playbook, "by": by, "at": at}
            if current is None:
                try:
                    self.db.playbooks.insert_one(doc)
                except DuplicateKeyError:
                    continue
            elif not self.db.playbooks.replace_one(
                {"_id": playbook["id"], "version": current["version"]}, doc
            ).modified_count:
                continue
            self.db.playbooks_versions.insert_one(
                {**doc, "_id": f"{playbook['id']}@v{version}", "id": playbook["id"], "why": why}
            )
            self.cache.bump()
            return version, True
        raise BadRequest("playbook: changed concurrently too often; try again")

    def all(self) -> list[dict]:
        """Every playbook's current version: ``{"version", "by", "at", **playbook}``."""
        return [_flat(d) for d in copy.deepcopy(self.cache.get())]

    def get(self, playbook_id: str) -> dict:
        found = next((d for d in self.cache.get() if d["_id"] == playbook_id), None)
        if found is None:
            raise NotFound(f"no playbook {playbook_id}")
        return _flat(copy.deepcopy(found))

    def versions(self, playbook_id: str) -> list[dict]:
        """Every version of a playbook, newest first (who saved it, when, why)."""
        rows = self.db.playbooks_versions.find({"id": playbook_id}).sort("version", DESCENDING)
        return [
            {"version": d["version"], "by": d["by"], "at": d["at"], "why": d.get("why"), **d["playbook"]}
            for d in rows
        ]

    # uses ----------------------------------------------------------------------------

    def record_use(self, use: dict) -> tuple[dict, bool]:
        """Record one use (``_id``: its use key): (the stored use, True when new)."""
        doc = {**use, "at_ts": use["at"].timestamp()}
        try:
            self.db.playbook_uses.insert_one(doc)
        except DuplicateKeyError:
            return self.db.playbook_uses.find_one({"_id": use["_id"]}), False
        return doc, True

    def uses_of_case(self, case_id: str) -> list[dict]:
        # aggregate $match: read by the case index on the embedded store (its find scans, docs/store.md)
        return list(self.db.playbook_uses.aggregate([{"$match": {"case_id": case_id}}, {"$sort": {"at": 1}}]))

    def uses_between(self, since: datetime, until: datetime) -> list[dict]:
        window = {"$gte": since.timestamp(), "$lt": until.timestamp()}
        return list(self.db.playbook_uses.find({"at_ts": window}).sort("at_ts", ASCENDING))

    def cases_of(self, uses: list[dict]) -> dict[str, dict]:
        return cases_of_uses(self.db, [u["case_id"] for u in uses])


def _flat(doc: dict) -> dict:
    return {"version": doc["version"], "by": doc.get("by"), "at": doc.get("at"), **doc["playbook"]}


CASE_FIELDS = ("status", "opened_at", "reopen_count", "milestones", "level", "rule")


def cases_of_uses(db, case_ids: list[str]) -> dict[str, dict]:
    """The cases a period's uses were on, projected to what playbook metrics read."""
    found = db.cases.find({"_id": {"$in": sorted(set(case_ids))}}, dict.fromkeys(CASE_FIELDS, 1))
    return {d["_id"]: d for d in found}
