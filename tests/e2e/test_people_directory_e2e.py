"""The people directory on the real broker and store (two replicas each of the cases
service and notify, a real SMTP server): saved once through the cases service, a new
agent is assignable by its strategy AND told by email; every replica's cache shows
it; a notify that was down when it was saved catches up from its queue; an older
revision never replaces a newer one; the deprecated per-service applies are refused."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from nameko.exceptions import RemoteError
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcClient

from services.cases import people
from services.cases.dependencies import CaseStores
from services.cases.service import CasesService
from services.common.messaging import serialize
from services.common.mongo import MongoStore
from services.notify.service import NotifyService
from tests.conftest import wait_until
from tests.e2e.test_pipeline import db_of

SAMPLE = yaml.safe_load((Path(__file__).resolve().parents[2] / "samples/people.yaml").read_text("utf-8"))
NIGHT_OWL = {
    "id": "night.owl",
    "name": "夜班 Night Owl",
    "teams": ["night"],
    "channels": {"email": "night.owl@example.com"},
}


def with_night_shift() -> dict:
    directory = copy.deepcopy(SAMPLE)
    directory["teams"].append({"id": "night", "name": "夜班 / Night desk", "lead": "zhao.min"})
    directory["people"].append(NIGHT_OWL)
    directory["strategies"].append({"id": "night-shift", "team": "night", "pick": "round_robin"})
    return directory


def alert_for(owner: dict, n: int) -> dict:
    now = datetime.now(UTC)
    return serialize(
        "alert_raised",
        {
            "alert_id": f"AL-people-{n}",
            "raised_at": now,
            "level": "P2",
            "rule": {"id": "detractor", "version": 1, "name": "NPS 贬损者"},
            "owner": owner,
            "channels": ["email"],
            "customer": {"id": f"C{n}", "name": "张三"},
            "event": {"source": "app", "event_id": f"e{n}", "channel": "app", "occurred_at": now},
            "trace": [],
        },
    )


def store_of(container, cls=MongoStore):
    return next(d for d in container.dependencies if isinstance(d, cls)).store


def mail_to(smtp_sink, address: str) -> list:
    return [m for m in smtp_sink.messages() if m["To"] == address]


def test_saved_once_a_new_agent_is_assigned_and_told_on_every_replica(
    cx_config, container_factory, mongo_client, smtp_sink
):
    cases = [container_factory(CasesService) for _ in range(2)]
    notify = [container_factory(NotifyService) for _ in range(2)]
    for container in (*cases, *notify):
        container.start()
    with ClusterRpcClient(timeout=15) as rpc:
        assert rpc.cases.save_people(SAMPLE, "admin") == {
            "revision": 1,
            "people": 7,
            "teams": 3,
            "strategies": 2,
        }
        wait_until(lambda: rpc.notify.people_revision() == 1, message="notify at revision 1")
        saved = rpc.cases.save_people(with_night_shift(), "admin")
        assert saved["revision"] == 2
        event_dispatcher()("alerts", "alert_raised", alert_for({"kind": "strategy", "id": "night-shift"}, 1))
        cases_db = db_of(mongo_client, "cases").cases
        case = wait_until(  # assigned by the new strategy
            lambda: cases_db.find_one({"alert_id": "AL-people-1", "assignee.id": "night.owl"}),
            message="the case assigned to night.owl",
        )
        [mail] = wait_until(
            lambda: mail_to(smtp_sink, "night.owl@example.com"), message="the assignment mail"
        )
        text = mail.get_body(("plain",)).get_content()
        assert "夜班 Night Owl" in text and case["_id"] in text and "新的客户体验工单" in text
        # every replica's cache holds revision 2, whichever consumed the message
        for container in cases:
            assert store_of(container, CaseStores).policies.people_revision() == 2
            agents = store_of(container, CaseStores).policies.agents()
            assert "night.owl" in {a["id"] for a in agents}
        for container in notify:
            wait_until(
                lambda c=container: store_of(c).directory().recipient("person", "night.owl") is not None,
                message="each notify replica to know night.owl",
            )
            team = store_of(container).directory().recipient("team", "cx-care")
            assert team["members"] == ["chen.jie", "emma.wu", "li.na", "sun.yu", "wang.lei"]


def test_a_notify_that_was_down_catches_up_and_never_goes_back(cx_config, container_factory, mongo_client):
    cases = container_factory(CasesService)
    first = container_factory(NotifyService)
    cases.start()
    first.start()
    with ClusterRpcClient(timeout=15) as rpc:
        rpc.cases.save_people(SAMPLE, "admin")
        wait_until(lambda: rpc.notify.people_revision() == 1, message="notify at revision 1")
        first.stop()  # its queue stays: saves while it is down wait there
        rpc.cases.save_people(with_night_shift(), "admin")
        assert rpc.cases.set_shift("night.owl", False, "zhao.min")["on_shift"] is False  # revision 3
        replica = container_factory(NotifyService)
        replica.start()
        wait_until(lambda: rpc.notify.people_revision() == 3, message="the restarted notify to catch up")
        recipients = db_of(mongo_client, "notify").recipients
        assert recipients.find_one({"_id": "person:night.owl"})["email"] == "night.owl@example.com"

        # revision 1 delivered late (a redelivery, a slow replica) replaces nothing
        stale = serialize(
            "directory_changed",
            {
                "revision": 1,
                "changed_at": datetime.now(UTC),
                "by": "admin",
                "directory": rpc.cases.get_people()["directory"],
            },
        )
        stale["directory"]["people"] = [p for p in stale["directory"]["people"] if p["id"] != "night.owl"]
        event_dispatcher()("cases", "directory_changed", stale)
        announced = time.time()
        rpc.cases.announce_people()  # and the current one again: applied idempotently
        wait_until(
            lambda: db_of(mongo_client, "notify").people_projection.find_one()["received_at"] > announced,
            message="the announcement handled",
        )
        assert rpc.notify.people_revision() == 3
        assert recipients.find_one({"_id": "person:night.owl"}) is not None

        # the per-service files are the people directory's now
        for call in (
            lambda: rpc.cases.apply_agents({"teams": [], "agents": []}),
            lambda: rpc.notify.apply_recipients({}),
        ):
            with pytest.raises(RemoteError, match="people directory \\(revision 3\\)"):
                call()


def test_saving_refuses_an_agent_nobody_can_reach(cx_config, container_factory):
    container_factory(CasesService).start()
    unreachable = with_night_shift()
    unreachable["people"][-1]["channels"] = {"phone": "+8613800000000"}
    with ClusterRpcClient(timeout=15) as rpc:
        with pytest.raises(RemoteError) as caught:
            rpc.cases.save_people(unreachable, "admin")
        assert caught.value.exc_type == "BadRequest"
        assert "people.7.channels: night.owl can be assigned cases (role agent, team night)" in str(
            caught.value
        )
        with pytest.raises(RemoteError, match="no people directory has been saved"):
            rpc.cases.get_people()


def test_a_directory_notify_cannot_read_is_dead_lettered_naming_the_field(
    cx_config, container_factory, mongo_client
):
    """The owner refuses such a handle (``HANDLES``); a producer that skipped its checks
    (a bug, an older version) still loses nothing and replaces nothing."""
    notify = container_factory(NotifyService)
    notify.start()
    with ClusterRpcClient(timeout=15) as rpc:
        loaded = people.load(SAMPLE)
        loaded["people"][1]["channels"]["dingtalk"] = {
            "webhook": "https://oapi.example/robot",
            "colour": "red",
        }
        changed = {"revision": 5, "changed_at": datetime.now(UTC), "by": "admin", "directory": loaded}
        event_dispatcher()("cases", "directory_changed", serialize("directory_changed", changed))
        dead = db_of(mongo_client, "notify").dead_letters
        [letter] = wait_until(lambda: list(dead.find()), message="the dead letter")
        assert letter["reason"] == "directory revision 5: people.1.handles.dingtalk.colour: Unknown field."
        assert rpc.notify.people_revision() is None  # nothing replaced
