"""Reads of cases for the RPCs and the sweeps: filtered pages (SLA state, who may see
what), one visible case, counts, cases at risk. Queries only."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.cases import queue
from services.cases.lifecycle import ACTIVE_STATUSES, slot
from services.cases.stores.collaborations import Collaborations
from services.common.claims import matching
from services.common.errors import BadRequest
from services.common.mongo import all_of

# breach filter values: ack_breached / resolve_breached / at_risk / none, and the
# older any-clock names breached (either clock) and warning (= at_risk)
BREACH_STATES = ("ack_breached", "resolve_breached", "breached", "at_risk", "warning", "none")
CLOCK_FIELDS = {"acknowledge": "sla.clocks.acknowledge", "resolve": "sla.clocks.resolve"}
BREACHING_MAX = 200  # the teams overview's breaching cases read at most


def _clock_breached(clock: str, now: float) -> list[dict]:
    return [{f"{clock}.due_epoch": {"$lte": now}}, {f"{clock}.met": False}]


def _clock_at_risk(clock: str, now: float) -> dict:
    return {f"{clock}.warn_epoch": {"$lte": now}, f"{clock}.due_epoch": {"$gt": now}}


def breach_query(state: str, now: float) -> dict:
    """Cases by SLA state right now (epoch numbers, see docs/store.md).

    ``ack_breached`` / ``resolve_breached``: that clock's due time passed while
    it runs, or it stopped late; ``breached``: either; ``at_risk`` (alias
    ``warning``): a running clock passed its pre-breach warning time but not its
    due time; ``none``: neither breached nor at risk (cases without an SLA too).
    A paused clock has no due time, so it is in none of the running states.
    """
    ack, res = CLOCK_FIELDS["acknowledge"], CLOCK_FIELDS["resolve"]
    breached = _clock_breached(ack, now) + _clock_breached(res, now)
    at_risk = [_clock_at_risk(ack, now), _clock_at_risk(res, now)]
    if state == "ack_breached":
        return {"$or": _clock_breached(ack, now)}
    if state == "resolve_breached":
        return {"$or": _clock_breached(res, now)}
    if state == "breached":
        return {"$or": breached}
    if state in ("at_risk", "warning"):
        return {"$or": at_risk}
    if state == "none":
        return {"$nor": breached + at_risk}
    raise BadRequest(f"breach: must be one of {', '.join(BREACH_STATES)}")


def visibility_query(visible_to: dict | None) -> dict:
    """What ``visible_to`` (``{"user_id", "role", "teams"}``) may see; {} = everything.

    An ``agent`` sees a case assigned to them, assigned to one of their teams,
    one they collaborate on (协作人), or an unassigned case of one of their teams
    or of no known team (so that nobody's pick-up pool is invisible). Every
    other role sees every case.
    """
    if not visible_to or visible_to["role"] != "agent":
        return {}
    user, teams = visible_to["user_id"], list(visible_to["teams"])
    return {
        "$or": [
            {"assignee_key": f"person:{user}"},
            {"assignee.kind": "team", "assignee.id": {"$in": teams}},
            {f"collaborators.{slot(user)}.id": user},
            # a missing team reads as null with $in on both servers; explicit nulls
            # are not matched inside $or on nx-27017 (docs/store.md), hence $in
            {"assignee_key": "", "team": {"$in": [*teams, None]}},
        ]
    }


def may_see(case: dict, visible_to: dict | None) -> bool:
    """``visibility_query`` for one case in hand (its Python twin: the same four ways an
    agent sees a case; tests/services/test_case_visibility.py keeps them alike)."""
    if not visible_to or visible_to["role"] != "agent":
        return True
    user, teams = visible_to["user_id"], list(visible_to["teams"])
    assignee = case.get("assignee") or {}
    helping = (case.get("collaborators") or {}).get(slot(user)) or {}
    return (
        case.get("assignee_key") == f"person:{user}"
        or (assignee.get("kind") == "team" and assignee.get("id") in teams)
        or helping.get("id") == user
        or (not case.get("assignee_key") and case.get("team") in (*teams, None))
    )


def as_before_assignment(case: dict) -> dict | None:
    """The case's owner fields as they were before its latest assignment (None when it
    has none): whom it was visible to then."""
    given = case.get("assignment")
    if not given:
        return None
    previous = given.get("previous")
    return {
        **case,
        "assignee": previous,
        "assignee_key": f"{previous['kind']}:{previous['id']}" if previous else "",
        "team": given.get("previous_team", case.get("team")),
    }


class CaseQueries:
    """Queries over the cases collection."""

    def __init__(self, db):
        self.db = db
        self.collaborations = Collaborations(db)

    def indexes(self) -> dict[str, list]:
        """The queue's indexes: each saved view's equality key, then the sort keys (docs/console.md)."""
        order = [("level", ASCENDING), ("opened_at", ASCENDING)]
        return {
            "cases": [
                IndexModel([("status", ASCENDING), *order], name="queue_open"),
                IndexModel([("assignee_key", ASCENDING), ("status", ASCENDING), *order], name="queue_owner"),
                IndexModel([("team", ASCENDING), ("status", ASCENDING), *order], name="queue_team"),
                # an agent's team view: assigned to them or their team, and of their team
                IndexModel(
                    [("assignee_key", ASCENDING), ("team", ASCENDING), ("status", ASCENDING), *order],
                    name="queue_owner_team",
                ),
                IndexModel([(queue.CLOCK_DUE[0], ASCENDING)], name="queue_ack_due"),
                IndexModel([(queue.CLOCK_DUE[1], ASCENDING)], name="queue_resolve_due"),
            ]
        }

    def queue(self, request: dict, now: datetime) -> dict:
        """One page of a saved view (``services/cases/queue.py``), its total and every
        view's count, each counted by the database under the viewer's visibility."""
        viewer, status, stamp, soon = (
            request["viewer"],
            request.get("status"),
            now.timestamp(),
            request["soon_minutes"],
        )
        visible = queue.visibility_branches(viewer)
        helping = {k: v for k, v in visible[-1].items() if k.startswith("collaborators.")}
        if helping and not self.collaborations.may_help(viewer["user_id"], helping):
            visible = visible[:2]  # collaborating on nothing: skip the collaborator conditions
        filters = self.case_filter(
            now=now,
            status=status,
            level=request.get("level"),
            breach=request.get("breach"),
            touchpoint=request.get("touchpoint"),
        )
        narrowed = [filters]
        found = self.search_ids(request.get("q"))
        if found is not None:
            narrowed.append({"_id": {"$in": found}})
        branches = queue.product(
            visible,
            queue.view_branches(request["view"], viewer, stamp, soon),
            [queue.finished_hidden(request["view"], status)],
            *([n] for n in narrowed),
        )
        views = {
            view: queue.product(
                visible, queue.view_branches(view, viewer, stamp, soon), [queue.finished_hidden(view, None)]
            )
            for view in queue.COUNTED_VIEWS
        }
        counts = {view: self.count_all(conditions) for view, conditions in views.items()}
        unfiltered = views.get(request["view"]) == branches  # the total is that view's count
        return {
            "items": self.merged_page(branches, request["sort"], request["skip"], request["limit"]),
            "total": counts[request["view"]] if unfiltered else self.count_all(branches),
            "counts": counts,
        }

    def count_all(self, branches: list[dict]) -> int:
        """The cases matching any of the disjoint ``branches``: one ``$count`` each (the
        embedded store answers ``$match`` + ``$count`` in SQL, ``count_documents`` not),
        ``$in`` split on the keys of one queue index (``queue.split_in``), and the status's
        ``$in`` counted as one ``$group`` by status (``queue.counted_by_status``)."""
        total = 0
        for branch in (part for b in branches for part in queue.split_in(b, keep=("status",))):
            by_status = queue.counted_by_status(branch)
            if by_status is not None:  # one $group by status instead of a $count per status
                rest, statuses = by_status
                pipeline = [{"$match": rest}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]
                total += sum(g["n"] for g in self.db.cases.aggregate(pipeline) if g["_id"] in statuses)
                continue
            answer = list(self.db.cases.aggregate([{"$match": branch}, {"$count": "n"}]))
            total += answer[0]["n"] if answer else 0
        return total

    def merged_page(self, branches: list[dict], sort: str, skip: int, limit: int) -> list[dict]:
        """Rows ``skip`` … ``skip + limit`` of the disjoint ``branches`` in ``sort`` order:
        the ids of each branch's first ``skip + limit`` in index order, their sort keys
        read by id and merged here, then the page's cases read by id.

        Each branch's ``$in`` on the keys of one queue index is read as one equality per
        value (``queue.split_in``): in index order, where the ``$in`` sorts every case it
        matches. A plain branch's ids come from an aggregate ``$match`` (the embedded
        store reads it by the index; its ``find`` on the same filter reads every case the
        first indexed key matches, even when none is left); a branch holding ``$and`` /
        ``$or`` (breach filters) is read with ``find``, as the list filters are."""
        order = queue.sort_order(sort)
        parts = [part for branch in branches for part in queue.split_in(branch)]
        heads = [c["_id"] for part in parts for c in self._ids_in_order(part, order, skip + limit)]
        if len(parts) > 1:  # merged by their sort keys
            keys = self.db.cases.find({"_id": {"$in": heads}}, {"level": 1, "opened_at": 1})
            heads = [c["_id"] for c in sorted(keys, key=queue.sort_key(sort))]
        wanted = heads[skip : skip + limit]
        if not wanted:
            return []
        found = {c["_id"]: c for c in self.db.cases.find({"_id": {"$in": wanted}})}
        return [found[i] for i in wanted if i in found]

    def _ids_in_order(self, branch: dict, order: list[tuple[str, int]], n: int) -> list[dict]:
        """The ids (``{"_id"}``) of the first ``n`` cases of ``branch`` in ``order``."""
        if any(key.startswith("$") for key in branch):
            return list(self.db.cases.find(branch, {"_id": 1}).sort(order).limit(n))
        pipeline = [{"$match": branch}, {"$sort": dict(order)}, {"$limit": n}, {"$project": {"_id": 1}}]
        return list(self.db.cases.aggregate(pipeline))

    def search_ids(self, q: str | None) -> list[str] | None:
        """The ids a search finds (None: no search): exact ids first, else substrings."""
        exact, substring = queue.search_terms(q)
        if not exact and not substring:
            return None
        for terms in (exact, substring):
            ids: set[str] = set()
            for term in terms:
                ids |= {c["_id"] for c in self.db.cases.find(term, {"_id": 1}).limit(queue.SEARCH_MAX)}
            if ids:
                return sorted(ids)[: queue.SEARCH_MAX]
        return []

    def list_cases(
        self,
        *,
        limit: int = 50,
        skip: int = 0,
        now: datetime,
        with_total: bool = False,
        **filters,
    ) -> list[dict] | tuple[list[dict], int]:
        """One page of cases by urgency (level), newest first; with ``with_total``
        also the number of cases the filters match (same query, so pages add up)."""
        query = self.case_filter(now=now, **filters)
        total = None
        if with_total:  # $match + $count: the embedded store counts it in SQL, count_documents not
            counted = list(self.db.cases.aggregate([{"$match": query}, {"$count": "n"}]))
            total = counted[0]["n"] if counted else 0
        rows = [] if total is not None and total <= skip else self._page(query, limit, skip)
        return (rows, total) if total is not None else rows

    def _page(self, query: dict, limit: int, skip: int) -> list[dict]:
        """The page itself: a ``find`` that nx-27017 filters in Python when ``query`` holds an
        ``$or`` (0.5 s over 10,000 cases), hence skipped when the count says it is empty."""
        cursor = (
            self.db.cases.find(query)
            .sort([("level", ASCENDING), ("opened_at", DESCENDING), ("_id", ASCENDING)])
            .skip(skip)
            .limit(limit)
        )
        return list(cursor)

    def case_filter(
        self,
        *,
        now: datetime,
        status: str | None = None,
        assignee: str | None = None,
        level: str | None = None,
        customer: str | None = None,
        breach: str | None = None,
        touchpoint: str | None = None,
        visible_to: dict | None = None,
        case_id: str | None = None,
    ) -> dict:
        """The list filters as one query (each part keeps its meaning: ``all_of``)."""
        fields = {
            "_id": case_id,
            "status": status,
            "assignee.id": assignee,
            "level": level,
            "customer.id": customer,
            "event.touchpoint": touchpoint,
        }
        query = {k: v for k, v in fields.items() if v}
        clauses = [visibility_query(visible_to)]
        if breach:
            clauses.append(breach_query(breach, now.timestamp()))
        return all_of(query, *clauses)

    def visible_case(self, case_id: str, visible_to: dict | None, now: datetime) -> dict | None:
        """The case if ``visible_to`` may see it, else None (as if it did not exist).

        An agent's visibility is tried as its disjoint plain conditions, each beside the
        ``_id`` (``queue.visibility_branches``): the embedded store reads each by the
        primary key, whereas the ``$or`` inside ``$and`` it evaluates case by case over
        the whole collection (10,000 cases: 300–1,000 ms against a few ms)."""
        if not visible_to or visible_to["role"] != "agent":
            return self.db.cases.find_one({"_id": case_id})
        for branch in queue.visibility_branches(visible_to):
            case = self.db.cases.find_one({"_id": case_id, **branch})
            if case is not None:
                return case
        return None

    def counts(self) -> dict:
        """Cases by status and by owner (``CaseStore.stats`` adds the dead letters)."""
        by_status = {
            row["_id"]: row["n"]
            for row in self.db.cases.aggregate([{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
        }
        by_owner = {
            row["_id"] or "(unassigned)": row["n"]
            for row in self.db.cases.aggregate([{"$group": {"_id": "$assignee.id", "n": {"$sum": 1}}}])
        }
        return {
            "cases": sum(by_status.values()),
            "by_status": by_status,
            "by_owner": by_owner,
        }

    def team_figures(self, team_ids: list[str], owner_keys: list[str], now: float, soon_minutes: int) -> dict:
        """Open cases per owner key (``person:…``, ``team:…``) and per team; the teams'
        breaching cases (the queue's ``breaching`` view: a running clock overdue or due
        within ``soon_minutes``) counted per team and read most urgent first, at most
        ``BREACHING_MAX``. Each query a plain condition (``$group`` on one field; docs/store.md)."""
        active = {"status": {"$in": list(ACTIVE_STATUSES)}}
        out: dict = {"by_owner": {}, "by_team": {}, "breaching_by_team": {}, "breaching": []}
        if not team_ids:
            return out

        def grouped(match: dict, field: str) -> dict[str, int]:
            rows = self.db.cases.aggregate(
                [{"$match": match}, {"$group": {"_id": f"${field}", "n": {"$sum": 1}}}]
            )
            return {r["_id"]: r["n"] for r in rows if r["_id"]}

        if owner_keys:
            out["by_owner"] = grouped({**active, "assignee_key": {"$in": owner_keys}}, "assignee_key")
        out["by_team"] = grouped({**active, "team": {"$in": team_ids}}, "team")
        nobody = {"user_id": "", "teams": []}  # the breaching view reads no viewer
        due = queue.view_branches("breaching", nobody, now, soon_minutes)
        breaching: list[dict] = []
        for branch in queue.product([{"team": {"$in": team_ids}}], due, [active]):
            for team, n in grouped(branch, "team").items():
                out["breaching_by_team"][team] = out["breaching_by_team"].get(team, 0) + n
            breaching += self.db.cases.find(branch).sort(queue.sort_order("urgency")).limit(BREACHING_MAX)
        out["breaching"] = sorted(breaching, key=queue.sort_key("urgency"))[:BREACHING_MAX]
        return out

    def at_risk_cases(self, clock: str, now: float, limit: int = 200) -> list[dict]:
        """Active cases whose ``clock`` passed its warning time but is not yet due."""
        # plain conditions in aggregates (no $or, $and or $in): the embedded store answers
        # them in SQL; a find filtered every case in Python (10,000 cases: ~100 ms a sweep)
        at_risk = _clock_at_risk(CLOCK_FIELDS[clock], now)
        branches = [{"status": status, **at_risk} for status in ACTIVE_STATUSES]  # no $in: claims.py
        return matching(self.db.cases, branches, "_id", limit)
