"""The people directory's copies on the real store, under concurrency: the owner's
revisions never collide, and notify's recipients and the gateway's login users, given
many revisions at once in any order by several green threads, end at the newest and
never go back to an older one afterwards."""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime
from pathlib import Path

import eventlet
import yaml

from services.cases import people as cases_people
from services.cases.stores.people import People
from services.gateway.people_logins import PeopleLogins, logins
from services.notify import people as notify_people
from services.notify.digest import schedule_all
from services.notify.people_store import PeopleProjection
from services.notify.store import NotifyStore

SAMPLE = yaml.safe_load((Path(__file__).resolve().parents[2] / "samples/people.yaml").read_text("utf-8"))


def revision(n: int) -> dict:
    """The sample with ``n`` extra people in cx-care: each revision is distinguishable."""
    directory = copy.deepcopy(SAMPLE)
    for i in range(n):
        directory["people"].append(
            {
                "id": f"extra.{i}",
                "name": f"Extra {i}",
                "teams": ["cx-care"],
                "channels": {"email": f"e{i}@example.com"},
            }
        )
    return cases_people.load(directory)


def test_concurrent_saves_get_distinct_revisions(db):
    store, now = People(db), datetime.now(UTC)
    pool = eventlet.GreenPool(8)
    saved = list(pool.imap(lambda n: store.save(revision(n), "admin", now)["revision"], range(8)))
    assert sorted(saved) == list(range(1, 9))
    assert store.current()["revision"] == 8


def test_notify_and_the_gateway_end_at_the_newest_revision_whatever_the_order(db):
    directories = {n: revision(n) for n in range(1, 9)}
    order = list(directories)
    random.Random(7).shuffle(order)
    notify = NotifyStore(db)
    pool = eventlet.GreenPool(8)

    def deliver(n):
        PeopleProjection(notify).receive(n, notify_people.recipients(directories[n]))
        PeopleLogins(db).receive(n, logins(directories[n]))

    for _ in pool.imap(deliver, order):
        pass
    newest = {f"person:{p['id']}" for p in directories[8]["people"]} | {
        "team:cx-care",
        "team:logistics",
        "team:billing",
    }
    assert {d["_id"] for d in db.recipients.find()} == newest
    assert PeopleProjection(notify).held()["projected"] == 8
    assert PeopleLogins(db).revision() == 8
    assert db.users.count_documents({"source": "people", "login": True}) == len(directories[8]["people"])

    # a late, older revision changes nothing
    assert PeopleProjection(notify).receive(3, notify_people.recipients(directories[3])) is False
    assert PeopleLogins(db).receive(3, logins(directories[3])) is False
    assert {d["_id"] for d in db.recipients.find()} == newest
    assert db.users.find_one({"_id": "extra.7"})["login"]


def test_a_person_dropped_from_the_directory_gets_no_more_digests(db):
    notify = NotifyStore(db)
    first = copy.deepcopy(SAMPLE)
    first["people"][0]["digest"] = {"frequency": "daily", "at": "09:00"}
    recipients = notify_people.recipients(cases_people.load(first))
    PeopleProjection(notify).receive(1, recipients)
    schedule_all(notify, recipients["people"], datetime.now(UTC))
    assert [d["_id"] for d in db.digests.find()] == ["chen.jie"]
    second = copy.deepcopy(first)
    second["people"] = [p for p in second["people"] if p["id"] != "chen.jie"]
    PeopleProjection(notify).receive(2, notify_people.recipients(cases_people.load(second)))
    assert db.digests.count_documents({}) == 0 and db.recipients.find_one({"_id": "person:chen.jie"}) is None
