"""Take it under a race, on the real broker and store with two replicas of the cases
service: many takers at the same instant (every request published before any answer),
exactly one wins; the others get Conflict and nothing of theirs is written or sent.
The winner's assignment is an ordinary one: one audit entry, one status change, one
``case_assigned``, one notification, the load on the winner alone. In the console, of
six sessions of two agents pressing "take it" at once one is taken to the case and the
others are told (409) that someone else changed the owner."""

from __future__ import annotations

import time
from pathlib import Path

import eventlet
import pytest
import requests
import yaml
from nameko.events import event_handler
from nameko.exceptions import RemoteError
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ClusterRpcClient

from services.cases.service import CasesService
from tests.conftest import wait_until
from tests.e2e.gateway_stack import PASSWORDS, csrf_of, feedback, gateway  # noqa: F401 - the fixture
from tests.e2e.test_people_directory_e2e import alert_for

SAMPLE = yaml.safe_load((Path(__file__).resolve().parents[2] / "samples/people.yaml").read_text("utf-8"))
HEARD: dict[str, list[dict]] = {"case_assigned": [], "case_status_changed": [], "notification_requested": []}
# who takes: everyone in the directory who may see a cx-care case (agents of the team, owners)
TAKERS = [
    {"user_id": "chen.jie", "role": "agent", "teams": ["cx-care"]},
    {"user_id": "emma.wu", "role": "agent", "teams": ["cx-care", "billing"]},
    {"user_id": "li.na", "role": "agent", "teams": ["cx-care", "logistics", "billing"]},
    {"user_id": "sun.yu", "role": "agent", "teams": ["cx-care"]},
    {"user_id": "wang.lei", "role": "owner", "teams": ["cx-care"]},
    {"user_id": "zhao.min", "role": "owner", "teams": ["logistics"]},
]
ROUNDS = 4  # each taker asks this many times at once: 24 requests in flight
AGENTS = (("chen.jie", PASSWORDS["agent"]), ("li.na", "agent-password-2"))  # the console's two takers


class Heard:
    name = "take_race_listener"

    @event_handler("cases", "case_assigned")
    def assigned(self, payload):
        HEARD["case_assigned"].append(payload)

    @event_handler("cases", "case_status_changed")
    def changed(self, payload):
        HEARD["case_status_changed"].append(payload)

    @event_handler("cases", "notification_requested")
    def notified(self, payload):
        HEARD["notification_requested"].append(payload)


@pytest.fixture
def desk(cx_config, container_factory):
    for messages in HEARD.values():
        messages.clear()
    for container in (
        container_factory(CasesService),
        container_factory(CasesService),
        container_factory(Heard),
    ):
        container.start()
    with ClusterRpcClient(timeout=30) as rpc:
        rpc.cases.save_people(SAMPLE, "admin")
        yield rpc


def open_case(rpc, owner: dict, n: int) -> dict:
    event_dispatcher()("alerts", "alert_raised", alert_for(owner, n))
    return wait_until(
        lambda: next((c for c in rpc.cases.list_cases() if c["alert_id"] == f"AL-people-{n}"), None),
        message="the case",
    )


def race(rpc, case_id: str, seen: str, reason: str | None) -> tuple[list[dict], list[str]]:
    """Every taker ``ROUNDS`` times, all sent before any answer is read: (won, refusals)."""
    pending = [
        (
            taker,
            rpc.cases.take_case.call_async(
                {"case_id": case_id, "taker": taker, "seen": seen, "reason": reason}
            ),
        )
        for _ in range(ROUNDS)
        for taker in TAKERS
    ]
    won, refused = [], []
    for taker, reply in pending:
        try:
            after = reply.result()
        except RemoteError as exc:
            refused.append(exc.exc_type)
        else:
            won.append({"taker": taker["user_id"], "assignee": after["assignee"]})
    return won, refused


def log_in(gw, username: str, password: str) -> requests.Session:
    session = requests.Session()
    token = csrf_of(session.get(gw.url + "/login").text)
    form = {"username": username, "password": password, "csrf_token": token}
    assert session.post(gw.url + "/login", data=form, allow_redirects=False).status_code == 303
    session.csrf = csrf_of(session.get(gw.url + "/cases").text)
    return session


def about(message: str, case_id: str, **fields) -> list[dict]:
    return [
        m for m in HEARD[message] if m["case_id"] == case_id and all(m.get(k) == v for k, v in fields.items())
    ]


def settled(check, seconds: float = 3.0) -> None:
    """``check`` holds now and still holds ``seconds`` later (no late duplicate arrives)."""
    wait_until(check, message="the winner's messages")
    time.sleep(seconds)
    assert check()


def test_of_two_dozen_takers_at_once_exactly_one_gets_an_unassigned_case(desk):
    # a rule naming no usable owner: the case waits in the queue, unassigned (status open)
    case = open_case(desk, {"kind": "strategy", "id": "nobody"}, 1)
    assert case["status"] == "open" and case["assignee"] is None
    won, refused = race(desk, case["_id"], "", None)
    assert len(won) == 1 and refused == ["Conflict"] * (len(TAKERS) * ROUNDS - 1), (won, refused)
    winner = won[0]["taker"]
    assert won[0]["assignee"] == {"kind": "person", "id": winner}

    stored = desk.cases.get_case(case["_id"])
    assert stored["assignee"] == {"kind": "person", "id": winner} and stored["status"] == "assigned"
    assert [a["action"] for a in stored["audit"]].count("assigned") == 1
    settled(
        lambda: len(about("case_assigned", case["_id"])) == 1
        and len(about("case_status_changed", case["_id"], to_status="assigned")) == 1
        and len(about("notification_requested", case["_id"], kind="case_assigned")) == 1
    )
    [assigned] = about("case_assigned", case["_id"])
    assert assigned["assignee"] == {"kind": "person", "id": winner} and assigned["assigned_by"] == winner
    [note] = about("notification_requested", case["_id"], kind="case_assigned")
    assert note["recipient"] == {"kind": "person", "id": winner}
    loads = {a["id"]: a["load"] for a in desk.cases.list_agents()["agents"]}
    assert loads[winner] > 0 and all(load == 0 for agent, load in loads.items() if agent != winner), loads


def test_of_many_takers_of_a_teams_case_one_wins_and_the_handoff_is_recorded_once(desk):
    case = open_case(desk, {"kind": "team", "id": "cx-care"}, 2)
    assert case["assignee"] == {"kind": "team", "id": "cx-care"}
    won, refused = race(desk, case["_id"], "team:cx-care", "我来处理")
    assert len(won) == 1 and set(refused) == {"Conflict"}, (won, refused)
    winner = won[0]["taker"]
    stored = desk.cases.get_case(case["_id"])
    assert stored["assignee"] == {"kind": "person", "id": winner}
    handoffs = [a for a in stored["audit"] if a["action"] == "reassigned"]
    assert len(handoffs) == 1 and handoffs[0]["actor"] == winner and handoffs[0]["why"] == "我来处理"
    settled(lambda: len(about("case_assigned", case["_id"], assigned_by=winner)) == 1)
    assert len(about("case_assigned", case["_id"])) == 2  # the opening's to the team, the winner's
    assert about("case_status_changed", case["_id"]) == []  # assigned to assigned: no status change

    # the loser's view: the owner it saw is gone, so taking it again is refused
    again = {"case_id": case["_id"], "taker": TAKERS[5], "seen": "team:cx-care", "reason": "我来处理"}
    with pytest.raises(RemoteError) as refusal:
        desk.cases.take_case(again)
    assert refusal.value.exc_type == "Conflict" and f"person:{winner}" in str(refusal.value)


def test_take_refuses_what_the_taker_may_not_see_and_a_bad_request(desk):
    case = open_case(desk, {"kind": "team", "id": "cx-care"}, 3)
    outsider = {"user_id": "zhao.min", "role": "agent", "teams": ["logistics"]}
    with pytest.raises(RemoteError) as hidden:
        desk.cases.take_case(
            {"case_id": case["_id"], "taker": outsider, "seen": "team:cx-care", "reason": "x"}
        )
    assert hidden.value.exc_type == "NotFound"
    with pytest.raises(RemoteError) as no_reason:
        desk.cases.take_case({"case_id": case["_id"], "taker": TAKERS[0], "seen": "team:cx-care"})
    assert no_reason.value.exc_type == "BadRequest" and "reason" in str(no_reason.value)
    with pytest.raises(RemoteError) as bad:
        desk.cases.take_case({"case_id": case["_id"], "taker": {"user_id": "x"}, "seen": ""})
    assert bad.value.exc_type == "BadRequest" and "taker.role" in str(bad.value)
    assert desk.cases.get_case(case["_id"])["assignee"] == {"kind": "team", "id": "cx-care"}


def test_two_agents_taking_a_case_at_once_in_the_console_one_is_told_someone_else_did(gateway):  # noqa: F811
    gateway.rpc.gateway.put_user(
        {"id": "li.na", "name": "李娜", "role": "agent", "teams": ["cx-care"], "password": "agent-password-2"}
    )
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=feedback("race-1")).status_code == 202
    [case] = wait_until(gateway.rpc.cases.list_cases, message="the case")
    assert case["assignee"] == {"kind": "team", "id": "cx-care"}
    sessions = [log_in(gateway, user, password) for user, password in AGENTS for _ in range(3)]

    def take(session):
        form = {"csrf_token": session.csrf, "seen": "team:cx-care"}
        return session.post(f"{gateway.url}/cases/{case['_id']}/take", data=form, allow_redirects=False)

    answers = list(eventlet.GreenPool(len(sessions)).imap(take, sessions))
    assert sorted(a.status_code for a in answers) == [303] + [409] * (len(sessions) - 1)
    assert all("该工单的负责人已变更" in a.text for a in answers if a.status_code == 409)
    owner = gateway.rpc.cases.get_case(case["_id"])["assignee"]
    assert owner["kind"] == "person" and owner["id"] in ("chen.jie", "li.na")
    audit = [a["action"] for a in gateway.rpc.cases.get_case(case["_id"])["audit"]]
    assert audit.count("reassigned") == 1


def test_take_over_the_api_one_of_two_at_once_wins_and_a_bad_body_names_the_field(gateway):  # noqa: F811
    sent = gateway.api("integration", "POST", "/api/v1/feedback", json=feedback("race-api"))
    assert sent.status_code == 202
    [case] = wait_until(gateway.rpc.cases.list_cases, message="the case")
    path = f"/api/v1/cases/{case['_id']}/take"
    missing = gateway.api("agent", "POST", path, json={})
    assert missing.status_code == 400 and "body.seen" in missing.text
    assert gateway.api("agent", "POST", "/api/v1/cases/C-none/take", json={"seen": ""}).status_code == 404

    def take(role):
        return gateway.api(role, "POST", path, json={"seen": "team:cx-care", "reason": "mine now"})

    answers = list(eventlet.GreenPool(2).imap(take, ["agent", "owner"]))
    assert sorted(a.status_code for a in answers) == [200, 409]
    [won] = [a.json() for a in answers if a.status_code == 200]
    assert won["assignee"]["kind"] == "person"
    assert gateway.rpc.cases.get_case(case["_id"])["assignee"] == won["assignee"]
