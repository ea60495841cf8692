"""Two notify replicas, each with its own APScheduler, and the cases service on the real
broker and store: a digest left due is sent once, by email, whichever replica wins."""

from datetime import UTC, datetime, timedelta

from services.cases.service import CasesService
from services.notify.digest import schedule_all
from services.notify.directory import load_directory
from services.notify.service import NotifyService
from services.notify.store import NotifyStore
from tests.conftest import wait_until
from tests.e2e.test_pipeline import db_of


def test_two_replicas_send_a_due_digest_once(cx_config, container_factory, mongo_client, smtp_sink):
    store = NotifyStore(db_of(mongo_client, "notify"))
    store.ensure_indexes()
    directory = load_directory(
        {
            "people": [
                {
                    "id": "li.na",
                    "name": "李娜",
                    "email": "li.na@example.com",
                    "digest": {"frequency": "daily", "at": "09:00", "channels": ["email"]},
                }
            ]
        }
    )
    store.apply_directory(directory)
    schedule_all(store, directory["people"], datetime.now(UTC) - timedelta(days=3))  # missed while down
    container_factory(CasesService).start()
    replicas = [container_factory(NotifyService) for _ in range(2)]
    for replica in replicas:
        replica.start()  # each scheduler syncs at once and catches up on the due digest
    [mail] = wait_until(smtp_sink.messages, message="the digest")
    assert mail["Subject"].startswith("【客户体验日报】")
    wait_until(lambda: store.db.digests.find_one({"_id": "li.na"})["lease_until"] == 0, message="released")
    assert store.db.deliveries.count_documents({"kind": "digest"}) == 1
    doc = store.db.digests.find_one({"_id": "li.na"})
    assert doc["next_run_at"] > datetime.now(UTC).timestamp()  # the next 09:00, not a backlog
    assert len(smtp_sink.messages()) == 1
