"""The rules of the alerts store: each rule's current definition (``rules``), its
immutable versions (``rule_versions``), and the enabled rules indexed for the engine,
held per replica (a ConfigCache on ``rules_meta``, services/common/mongo.py)."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.alerts.index import RuleIndex
from services.common.errors import Conflict
from services.common.mongo import ConfigCache, Store
from textanalysis.text import Analyzer


class RuleStore(Store):
    def __init__(self, db):
        super().__init__(db)
        # the enabled rules, indexed: reloaded when the rules revision moved (ConfigCache)
        self.rule_cache = ConfigCache(db, self._load_index, meta="rules_meta")
        # (the cached index, an analyzer, the index rebuilt for it): see rule_index
        self._relexed: tuple | None = None

    def indexes(self):
        return {
            "rule_versions": [
                IndexModel([("rule_id", ASCENDING), ("version", ASCENDING)], unique=True, name="rule_version")
            ],
        }

    def apply_rules(self, rules: list[dict], actor: str) -> dict:
        """Store validated rules; a rule whose content changed gets a new version.

        Returns ``{"created": [...], "updated": [...], "unchanged": [...]}``.
        """
        summary: dict[str, list] = {"created": [], "updated": [], "unchanged": []}
        for rule in rules:
            current = self.get_rule(rule["id"])
            version = self.write_version(rule, actor, "applied", current)
            if version is None:
                summary["unchanged"].append(rule["id"])
            else:
                summary["updated" if current else "created"].append(f"{rule['id']}@v{version}")
        return summary

    def write_version(
        self, rule: dict, actor: str, action: str, current: dict | None, source: str | None = None
    ) -> int | None:
        """Make ``rule`` the current definition as a new immutable version; ``source``: the
        text the admin typed for it (the console's editor), kept on the version.

        None when nothing changed (same fingerprint, not deleted, and no source other than
        the one shown for it). The unique (rule_id, version) index makes a concurrent writer
        fail loudly (Conflict) instead of two definitions sharing one version.
        """
        if current and current["fingerprint"] == rule["fingerprint"] and not current.get("deleted"):
            if source is None or source == self.source(current):
                return None
        version = (current["version"] + 1) if current else 1
        now = utcnow()
        self._add_version(rule, version, action, actor, now, source)
        self.db.rules.replace_one(
            {"_id": rule["id"]},
            {**rule, "_id": rule["id"], "version": version, "updated_at": now, "updated_by": actor},
            upsert=True,
        )
        self._bump_revision()
        return version

    def soft_delete(self, rule: dict, actor: str) -> int:
        """Disable and hide a rule, keeping its versions and alerts (a new version)."""
        current = self.get_rule(rule["id"])
        if current is None:
            raise LookupError(f"no rule {rule['id']}")
        version = current["version"] + 1
        now = utcnow()
        self._add_version(rule, version, "deleted", actor, now, None)
        self.db.rules.replace_one(
            {"_id": rule["id"]},
            {
                **rule,
                "_id": rule["id"],
                "version": version,
                "deleted": {"at": now, "by": actor},
                "updated_at": now,
                "updated_by": actor,
            },
        )
        self._bump_revision()
        return version

    def _add_version(
        self, rule: dict, version: int, action: str, actor: str, now: datetime, source: str | None
    ) -> None:
        document = {
            "rule_id": rule["id"],
            "version": version,
            "action": action,
            "definition": rule,
            "created_at": now,
            "created_by": actor,
        }
        if source is not None:
            document["source"] = source
        try:
            self.db.rule_versions.insert_one(document)
        except DuplicateKeyError:
            raise Conflict(f"rule {rule['id']} changed concurrently; reload and retry") from None

    def get_rule(self, rule_id: str) -> dict | None:
        return self.db.rules.find_one({"_id": rule_id})

    def source(self, current: dict) -> str | None:
        """The text an admin typed for the current definition: the newest version's source
        whose definition is the current one (same fingerprint); None when no version with
        a source says what the rule now says (e.g. it was changed since over the API)."""
        found = self.db.rule_versions.find(
            {"rule_id": current["_id"], "definition.fingerprint": current["fingerprint"]},
            {"version": 1, "source": 1},
        )
        with_source = [v for v in found if isinstance(v.get("source"), str)]
        return max(with_source, key=lambda v: v["version"])["source"] if with_source else None

    def rule_version(self, rule_id: str, version: int) -> dict | None:
        return self.db.rule_versions.find_one({"rule_id": rule_id, "version": version})

    def enabled_rules(self) -> list[dict]:
        return [
            r for r in self.db.rules.find({"enabled": True}).sort("_id", ASCENDING) if not r.get("deleted")
        ]

    def _bump_revision(self) -> None:
        """Every rule change bumps the rules revision (``rules_meta``), which tells the
        other replicas (ConfigCache, services/common/config_signal.py)."""
        self.rule_cache.bump()

    def _load_index(self) -> RuleIndex:
        return RuleIndex(self.enabled_rules())

    def rule_index(self, analyzer: Analyzer | None = None) -> RuleIndex:
        """The enabled rules, indexed (services/alerts/index.py); rebuilt only when the
        rules revision moved, whichever replica moved it: at once after a change made
        through this replica, on another replica's change signal, and otherwise within
        CONFIG_MAX_STALENESS_SECONDS (no revision read per event).

        The revision is read before the rules: a change landing in between leaves
        the cache one revision behind, and the next read of the revision rebuilds it.

        ``analyzer``: the replica's text analysis (its live lexicon). Rule keywords are
        indexed as it segments them, so after a lexicon change the index is rebuilt once
        for the new analyzer (kept until the rules or the lexicon change again).
        """
        index = self.rule_cache.get()
        if analyzer is None or index.analyzer is analyzer:
            return index
        relexed = self._relexed
        if relexed is not None and relexed[0] is index and relexed[1] is analyzer:
            return relexed[2]
        rebuilt = RuleIndex(index.rules, indexed=index.indexed, analyzer=analyzer)
        self._relexed = (index, analyzer, rebuilt)
        return rebuilt

    def list_rules(self, include_deleted: bool = False) -> list[dict]:
        rules = self.db.rules.find().sort("_id", ASCENDING)
        return [r for r in rules if include_deleted or not r.get("deleted")]

    def rule_versions(self, rule_id: str) -> list[dict]:
        return list(self.db.rule_versions.find({"rule_id": rule_id}).sort("version", ASCENDING))
