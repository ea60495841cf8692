"""The agents directory (teams, agents, strategies) and the versioned SLA, escalation and
follow-up policies: rarely written, read once per revision (``ConfigCache``).

Once a people directory has been saved (``stores/people.py``) the teams, agents and
strategies are read from it alone; the ``teams``/``agents``/``strategies``
collections are the deprecated agents file's (``cxctl cases agents apply``), which
is refused from then on so that there is never a second source of truth."""

from __future__ import annotations

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.cases import people as people_projection
from services.cases.stores import CAS_ATTEMPTS
from services.cases.stores.people import People
from services.common.errors import BadRequest, NotFound
from services.common.mongo import ConfigCache, plain_copy

# The agents directory and the policies: read once per revision (ConfigCache).
CONFIG_COLLECTIONS = (
    "agents",
    "teams",
    "strategies",
    "sla_policies",
    "escalation_policies",
    "followup_policies",
)


class Policies:
    """The directory and the policies, with their cache (``config``)."""

    def __init__(self, db):
        self.db = db
        self.people = People(db)
        self.config = ConfigCache(db, self._load_config)

    def _load_config(self) -> dict:
        # natural order, as the directory's own reads gave it
        config = {name: [d for d in self.db[name].find()] for name in CONFIG_COLLECTIONS}
        saved = self.people.current()
        if saved is not None:
            projected = people_projection.agents_directory(saved["directory"])
            config.update({k: [{"_id": i["id"], **i} for i in v] for k, v in projected.items()})
            config["people_revision"] = saved["revision"]
        return config

    def _configured(self, name: str, item_id: str | None) -> dict | None:
        found = next((d for d in self.config.get()[name] if d["_id"] == item_id), None)
        return plain_copy(found)

    # agents directory ------------------------------------------------------------

    def save_people(self, directory: dict, by: str, now) -> dict:
        """Save the validated people ``directory`` as a new revision; the stored document."""
        saved = self.people.save(directory, by, now)
        self.config.bump()
        return saved

    def people_revision(self) -> int | None:
        """The people directory's revision as this replica reads it (None: none saved)."""
        return self.config.get().get("people_revision")

    def apply_directory(self, directory: dict) -> dict:
        """Replace teams, agents and strategies with the validated ``directory`` (the
        deprecated agents file; refused once a people directory exists)."""
        saved = self.people.current()
        if saved is not None:
            raise BadRequest(
                f"_schema: the people directory (revision {saved['revision']}) owns agents, teams and"
                " strategies; change them with cxctl people apply or PUT /api/v1/people"
            )
        counts = {}
        for name in ("teams", "agents", "strategies"):
            items = directory[name]
            for item in items:
                self.db[name].replace_one({"_id": item["id"]}, {"_id": item["id"], **item}, upsert=True)
            self.db[name].delete_many({"_id": {"$nin": [i["id"] for i in items]}})
            counts[name] = len(items)
        self.config.bump()
        return counts

    def directory(self) -> dict:
        saved = self.people.current()
        if saved is not None:
            return people_projection.agents_directory(saved["directory"])
        return {
            name: [
                {k: v for k, v in d.items() if k != "_id"}
                for d in self.db[name].find().sort("_id", ASCENDING)
            ]
            for name in ("teams", "agents", "strategies")
        }

    def agents(self) -> list[dict]:
        return plain_copy(self.config.get()["agents"])

    def strategy(self, strategy_id: str) -> dict | None:
        return self._configured("strategies", strategy_id)

    def set_shift(self, agent_id: str, on_shift: bool, by: str = "system", now=None) -> dict:
        """Put an agent on or off shift: a new people directory revision when one
        exists (``{"agent", "saved"}``), else in the deprecated agents collection."""
        if self.people.current() is not None:
            saved = self.people.set_shift(agent_id, on_shift, by, now)
            self.config.bump()
            agents = people_projection.agents_directory(saved["directory"])["agents"]
            agent = next(a for a in agents if a["id"] == agent_id)
            return {"agent": agent, "saved": saved}
        agent = self.db.agents.find_one_and_update(
            {"_id": agent_id}, {"$set": {"on_shift": on_shift}}, return_document=ReturnDocument.AFTER
        )
        if agent is None:
            raise NotFound(f"no agent {agent_id}")
        self.config.bump()
        return {"agent": agent, "saved": None}

    def team_of(self, owner: dict | None) -> str | None:
        """The team that owns work for ``owner``: the team itself, a strategy's team,
        or an agent's first team (None: not in the directory)."""
        if not owner:
            return None
        if owner["kind"] == "team":
            return owner["id"]
        if owner["kind"] == "strategy":
            return (self.strategy(owner["id"]) or {}).get("team")
        return ((self._configured("agents", owner["id"]) or {}).get("teams") or [None])[0]

    def team_calendar(self, owner: dict) -> str | None:
        """The calendar of the team that owns work for ``owner`` (team, strategy or agent)."""
        team_id = self.team_of(owner)
        return (self._configured("teams", team_id) or {}).get("calendar")

    def team_lead(self, owner: dict | None) -> str | None:
        team_id = self.team_of(owner)
        return (self._configured("teams", team_id) or {}).get("lead")

    # SLA and escalation policies (versioned) ------------------------------------------

    def apply_sla_policy(self, policy: dict) -> tuple[int, bool]:
        """Store ``policy`` as a new version unless it is unchanged; (version, changed)."""
        return self._apply_versioned("sla_policies", policy)

    def apply_escalation_policy(self, policy: dict) -> tuple[int, bool]:
        return self._apply_versioned("escalation_policies", policy)

    def apply_followup_policy(self, policy: dict) -> tuple[int, bool]:
        return self._apply_versioned("followup_policies", policy)

    def followup_policy(self, policy_id: str = "default") -> dict | None:
        return self._configured("followup_policies", policy_id)

    def sla_policy(self, policy_id: str = "default") -> dict | None:
        return self._configured("sla_policies", policy_id)

    def escalation_policy(self, policy_id: str = "default") -> dict | None:
        return self._configured("escalation_policies", policy_id)

    def _apply_versioned(self, collection: str, policy: dict) -> tuple[int, bool]:
        coll, versions = self.db[collection], self.db[f"{collection}_versions"]
        for _ in range(CAS_ATTEMPTS):
            current = coll.find_one({"_id": policy["id"]})
            if current is not None and current["policy"] == policy:
                return current["version"], False
            version = (current or {}).get("version", 0) + 1
            doc = {"_id": policy["id"], "version": version, "policy": policy}
            if current is None:
                try:
                    coll.insert_one(doc)
                except DuplicateKeyError:
                    continue
            elif not coll.replace_one(
                {"_id": policy["id"], "version": current["version"]}, doc
            ).modified_count:
                continue
            versions.insert_one({**doc, "_id": f"{policy['id']}@v{version}"})
            self.config.bump()
            return version, True
        raise BadRequest("policy: changed concurrently too often; try again")
