"""Lexicon edits live (services/common/lexicon.py) on the real broker and store: an edit
through the gateway API changes what two replicas of the alerts service (and the
profiles service) make of a comment within CONFIG_MAX_STALENESS_SECONDS, without a
restart; a revert restores it, also when the change signal is lost."""

from __future__ import annotations

import time

import pytest
from kombu import Connection
from nameko import config
from nameko.testing.services import entrypoint_hook
from nameko.testing.utils import get_container

from cxctl.broker import wait_queues_idle
from services.alerts.service import AlertsService
from services.common.config_signal import CONFIG_EXCHANGE
from services.common.lexicon import LiveLexicon
from services.profiles.service import ProfilesService
from tests.conftest import wait_until
from tests.e2e.gateway_stack import feedback, gateway  # noqa: F401

STALENESS = 2.0  # CONFIG_MAX_STALENESS_SECONDS for these tests
COMMENT = "客服一直甩锅"  # 甩锅 is in no shipped list: neutral, "other"
RULE = {
    "id": "complaint-words",
    "name": "投诉 / complaint",
    "level": "P3",
    "owner": {"kind": "team", "id": "cx-care"},
    "channels": ["email"],
    "when": {"field": "category", "op": "eq", "value": "complaint"},
}


@pytest.fixture
def short_staleness(cx_config):
    """Requested before ``gateway``: every container it starts reads this bound."""
    with config.patch({"CONFIG_MAX_STALENESS_SECONDS": STALENESS}):
        yield


@pytest.fixture
def replicas(short_staleness, gateway, container_factory):  # noqa: F811
    """The gateway's alerts replica, a second one, and the profiles replica."""
    second = container_factory(AlertsService)
    second.start()
    return [get_container(gateway.runner, AlertsService), second], get_container(
        gateway.runner, ProfilesService
    )


def category_on(container, text: str = COMMENT) -> str:
    with entrypoint_hook(container, "analyze_text") as analyze:
        return analyze(text)["category"]


def lexicon_version_of(container) -> int:
    provider = next(d for d in container.dependencies if isinstance(d, LiveLexicon))
    return provider.store.analyzer().version


def seen_everywhere(containers, profiles, category: str, version: int) -> float:
    """Seconds until every alerts replica says ``category`` and profiles holds ``version``."""
    start = time.monotonic()
    wait_until(
        lambda: all(category_on(c) == category for c in containers)
        and lexicon_version_of(profiles) == version,
        timeout=STALENESS + 3,
        interval=0.05,
        message=f"every replica to say {category}",
    )
    return time.monotonic() - start


def post_comments(gw, first: int, count: int) -> None:
    events = [
        feedback(f"lex-{n}", nps=8, customer=f"L{n}", text=COMMENT) for n in range(first, first + count)
    ]
    r = gw.api("integration", "POST", "/api/v1/feedback", json=events)
    assert r.status_code == 202 and r.json()["accepted"] == count, r.text
    wait_queues_idle(config["AMQP_URI"], quiet=6, timeout=30)


def complaint_alerts(gw) -> set[str]:
    return {
        a["customer"]["id"] for a in gw.rpc.alerts.list_alerts(limit=200) if a["rule"]["id"] == RULE["id"]
    }


def test_an_edit_through_the_api_reaches_both_alerts_replicas_and_a_revert_restores_them(
    replicas,
    gateway,  # noqa: F811
    cx_config,
):
    alerts, profiles = replicas
    gateway.rpc.alerts.apply_rules({"rules": [RULE]})
    assert [category_on(c) for c in alerts] == ["other", "other"]  # cached on both replicas now
    post_comments(gateway, 0, 6)  # consumed by both replicas
    assert complaint_alerts(gateway) == set()

    r = gateway.api(
        "admin",
        "POST",
        "/api/v1/lexicon/edits",
        json={"op": "add", "list": "complaint", "word": "甩锅", "reason": "agents report it weekly"},
    )
    assert r.status_code == 201, r.text
    added = r.json()
    assert added["changed"] and added["version"] >= 1
    took = seen_everywhere(alerts, profiles, "complaint", added["version"])
    assert took <= STALENESS + 1  # by signal, well inside the bound
    post_comments(gateway, 10, 6)  # whichever replica takes an event sees the word
    assert complaint_alerts(gateway) == {f"L{n}" for n in range(10, 16)}
    again = gateway.api(
        "admin",
        "POST",
        "/api/v1/lexicon/edits",
        json={"op": "add", "list": "complaint", "word": "甩锅", "reason": "x"},
    )
    assert again.status_code == 200 and again.json()["changed"] is False  # no new version

    versions = gateway.api("owner", "GET", "/api/v1/lexicon/versions").json()["items"]
    assert versions[0]["_id"] == added["version"] and versions[0]["actor"] == "root"
    assert versions[0]["reason"] == "agents report it weekly" and versions[0]["at"]
    listed = gateway.api("owner", "GET", "/api/v1/lexicon").json()
    assert listed["version"] == added["version"]
    assert [(e["list"], e["word"], e["state"]) for e in listed["entries"]] == [("complaint", "甩锅", "added")]

    # the revert's signal is lost: the replicas find it on their periodic revision read
    with Connection(cx_config["AMQP_URI"]) as conn:
        CONFIG_EXCHANGE(conn.default_channel).delete()
    r = gateway.api(
        "admin",
        "POST",
        f"/api/v1/lexicon/versions/{added['version']}/revert",
        json={"reason": "too broad: 甩锅 also praises our own team"},
    )
    assert r.status_code == 201, r.text
    reverted = r.json()
    assert reverted["reverts"] == added["version"]
    assert seen_everywhere(alerts, profiles, "other", reverted["version"]) <= STALENESS + 1.5
    assert gateway.api("owner", "GET", "/api/v1/lexicon").json()["entries"] == []
    post_comments(gateway, 20, 4)
    assert complaint_alerts(gateway) == {f"L{n}" for n in range(10, 16)}  # none of L20-L23
    stale = gateway.api(
        "admin", "POST", f"/api/v1/lexicon/versions/{added['version']}/revert", json={"reason": "twice"}
    )
    assert stale.status_code == 409, stale.text


@pytest.mark.parametrize(
    "body, field",
    [
        ({"op": "add", "list": "complaint", "word": "", "reason": "r"}, "body.word"),
        ({"op": "add", "list": "slang", "word": "绝绝子", "reason": "r"}, "body.list"),
        ({"op": "add", "list": "complaint", "word": "长" * 31, "reason": "r"}, "body.word"),
        ({"op": "add", "list": "complaint", "word": "甩锅"}, "body.reason"),
        (
            {"op": "add", "list": "aspects", "word": "快递盒", "reason": "r", "aspect": "Packaging"},
            "body.aspect",
        ),
        # well-formed but not a live code: the alerts service's check
        ({"op": "add", "list": "aspects", "word": "快递盒", "reason": "r", "aspect": "packaging"}, "aspect"),
    ],
)
def test_an_invalid_edit_is_a_400_naming_the_field(gateway, body, field):  # noqa: F811
    r = gateway.api("admin", "POST", "/api/v1/lexicon/edits", json=body)
    assert r.status_code == 400, r.text
    assert field in {e["field"] for e in r.json()["error"]["errors"]}


def test_checks_only_the_service_makes_are_400s_too_and_owners_cannot_edit(gateway):  # noqa: F811
    r = gateway.api(
        "admin",
        "POST",
        "/api/v1/lexicon/edits",
        json={"op": "add", "list": "complaint", "word": "甩 锅", "reason": "r"},
    )
    assert r.status_code == 400 and "word" in r.text, r.text
    r = gateway.api("admin", "POST", "/api/v1/lexicon/versions/99/revert", json={"reason": "r"})
    assert r.status_code == 404, r.text
    r = gateway.api(
        "owner",
        "POST",
        "/api/v1/lexicon/edits",
        json={"op": "add", "list": "complaint", "word": "甩锅", "reason": "r"},
    )
    assert r.status_code == 403


def test_a_draft_shows_its_effect_before_it_is_saved(gateway):  # noqa: F811
    draft = {"text": COMMENT, "edits": [{"op": "add", "list": "complaint", "word": "甩锅"}]}
    r = gateway.api("owner", "POST", "/api/v1/lexicon/analyze", json=draft)
    assert r.status_code == 200, r.text
    assert (r.json()["category"], r.json()["category_cues"], r.json()["draft"]) == (
        "complaint",
        ["甩锅"],
        True,
    )
    live = gateway.api("owner", "POST", "/api/v1/lexicon/analyze", json={"text": COMMENT}).json()
    assert live["category"] == "other" and gateway.rpc.alerts.lexicon()["entries"] == []  # nothing stored

    # a rule's dry run over the evaluated feedback, with the live lexicon and with the draft
    post_comments(gateway, 30, 3)
    body = {"rule": RULE, "since": "30d"}
    live_run = gateway.api("owner", "POST", "/api/v1/rules/backtest", json=body).json()
    assert live_run["alerts"] == 0 and live_run["lexicon"] == {"version": 0, "draft": False}
    edits = [{"op": "add", "list": "complaint", "word": "甩锅"}]
    draft_run = gateway.api("owner", "POST", "/api/v1/rules/backtest", json={**body, "lexicon_edits": edits})
    assert draft_run.status_code == 200, draft_run.text
    assert draft_run.json()["alerts"] == 3 and draft_run.json()["lexicon"]["draft"] is True
    bad = gateway.api(
        "owner",
        "POST",
        "/api/v1/rules/backtest",
        json={**body, "lexicon_edits": [{"op": "add", "list": "x"}]},
    )
    assert bad.status_code == 400 and "body.lexicon_edits.0.list" in {
        e["field"] for e in bad.json()["error"]["errors"]
    }
    assert gateway.rpc.alerts.lexicon()["entries"] == []  # still nothing stored
