"""Who may sign in, as the people directory says (``directory_changed``, owned by the
cases service): each person's login user carries the directory's name, role, teams,
language and ``login`` flag; the password (never in the directory) stays the
gateway's, set with ``cxctl users add`` / ``put_user``.

Kept by revision like notify's copy (``people_projection``, ``_id`` ``directory``): an
older revision is ignored, the same one again is applied again, and replicas applying
two revisions at once converge on the newer. A person dropped from the directory
keeps their user (audit trails name them) with ``login`` false: they cannot sign in,
their sessions end and their API tokens stop working. Users the directory never named
(integrations, users made with ``cxctl users add`` alone) are left as they are."""

from __future__ import annotations

import time

from pymongo.errors import DuplicateKeyError

PROJECTION_ID = "directory"
FIELDS = ("name", "role", "teams", "language", "login")  # what the directory decides
MAX_ROUNDS = 20
SOURCE = "people"  # a user's ``source`` when the people directory names them


def logins(directory: dict) -> list[dict]:
    """Each person's user fields (``id`` and ``FIELDS``)."""
    return [{"id": p["id"], **{k: p[k] for k in FIELDS}} for p in directory["people"]]


def may_sign_in(user: dict | None) -> bool:
    """False for a person the people directory says may not sign in (or dropped)."""
    # bool(): the embedded store gives back a boolean set by an update as 1 or 0
    return user is not None and bool(user.get("login", True))


class PeopleLogins:
    def __init__(self, db):
        self.db = db

    def receive(self, revision: int, people: list[dict]) -> bool:
        """Hold ``revision`` unless a newer one is held and apply the newest; False when
        ``revision`` is older than the one held."""
        try:
            self.db.people_projection.update_one(
                {"_id": PROJECTION_ID, "revision": {"$lte": revision}},
                {"$set": {"revision": revision, "people": people, "received_at": time.time()}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        for _ in range(MAX_ROUNDS):
            held = self.db.people_projection.find_one({"_id": PROJECTION_ID})
            self._apply(held["people"])
            done = {"_id": PROJECTION_ID, "revision": held["revision"]}
            if self.db.people_projection.update_one(
                done, {"$set": {"projected": held["revision"]}}
            ).matched_count:
                break
        return True

    def revision(self) -> int | None:
        return (self.db.people_projection.find_one({"_id": PROJECTION_ID}) or {}).get("projected")

    def _apply(self, people: list[dict]) -> None:
        for person in people:
            fields = {k: person[k] for k in FIELDS}
            self.db.users.update_one(
                {"_id": person["id"]}, {"$set": {**fields, "source": SOURCE}}, upsert=True
            )
        named = [p["id"] for p in people]
        self.db.users.update_many({"source": SOURCE, "_id": {"$nin": named}}, {"$set": {"login": False}})
