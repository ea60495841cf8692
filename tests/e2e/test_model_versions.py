"""The polarity model learned from the customers' scored comments (services/common/
sentiment_models.py) on the real broker and store: the profiles service trains it from
what it recorded, keeps each version with its held-out evaluation, and every analysing
replica uses the version in use; cxctl lists, rolls back and turns it off."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from nameko import config
from nameko.testing.services import entrypoint_hook
from nameko.testing.utils import get_container

from cxctl.broker import wait_queues_idle
from cxctl.main import cli
from cxctl.publish import FeedbackPublisher
from services.alerts.service import AlertsService
from services.common.lexicon import LexiconStore
from services.common.mongo import database_name
from services.common.sentiment_models import ModelStore
from services.profiles.service import ProfilesService
from tests.conftest import wait_until

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "feedback.jsonl"
COMMENT = "排队的人很多"  # no lexicon word, verdict or fact pattern: only a model gives it a polarity
SETTINGS = {
    "CONFIG_MAX_STALENESS_SECONDS": 2.0,
    "MODEL_TRAIN_DAYS": 3650.0,  # the sample stream is from October-November 2026
    "MODEL_MIN_HELD_OUT": 20,
}


def run(amqp_uri, *args):
    result = CliRunner().invoke(cli, ["--amqp-uri", amqp_uri, *args])
    return result.exit_code, result.output


def publish_samples(uri: str) -> int:
    lines = [line for line in SAMPLES.read_text("utf-8").splitlines() if line.strip()]
    with FeedbackPublisher(uri) as publisher:
        for line in lines:
            publisher.publish(line)
    wait_queues_idle(uri, quiet=6, timeout=120)
    return len(lines)


def source_on(container) -> tuple[str, str]:
    with entrypoint_hook(container, "analyze_text") as analyze:
        result = analyze(COMMENT)
    return result["source"], result["sentiment"]


@pytest.fixture
def stack(cx_config, runner_factory):
    with config.patch({**SETTINGS, "MODEL_RETRAIN_SECONDS": 3600.0}):
        runner = runner_factory(ProfilesService, AlertsService)
        runner.start()
        yield runner


def test_retrain_keeps_versions_with_their_evaluation_and_replicas_follow_a_rollback(stack, cx_config):
    uri = cx_config["AMQP_URI"]
    alerts = get_container(stack, AlertsService)
    publish_samples(uri)
    assert source_on(alerts) == ("lexicon", "neutral")

    code, out = run(uri, "model", "retrain", "--actor", "li.na", "--json")
    assert code == 0, out
    first = json.loads(out)
    assert first["changed"] and first["number"] == 1 and first["used"], first
    assert first["decision"].startswith("held-out accuracy")
    wait_until(lambda: source_on(alerts) == ("model", "negative"), timeout=4, message="the model on alerts")

    listed = json.loads(run(uri, "model", "list", "--json")[1])
    assert listed["active"] == 1
    [version] = listed["versions"]
    evaluation = version["evaluation"]
    assert version["by"] == "li.na" and version["model_version"] == first["model_version"]
    assert (
        evaluation["examples"] >= 20
        and evaluation["accuracy"] >= 0.8
        and set(evaluation["recall"])
        == {
            "negative",
            "positive",
        }
    )
    assert sum(evaluation["trained_on"].values()) > evaluation["examples"]  # 80 % learned, 20 % held out
    assert version["window"]["comments"] >= 200 and "body" not in version
    code, out = run(uri, "model", "list")
    assert "in use / 使用中: 1" in out and first["model_version"] in out

    code, out = run(uri, "model", "retrain")  # nothing new to learn from: no new version
    assert code == 0 and "unchanged / 未变更: version 1" in out

    code, out = run(uri, "model", "off", "--reason", "checking the lexicon alone")
    assert code == 0 and "was / 原为 1" in out
    wait_until(lambda: source_on(alerts) == ("lexicon", "neutral"), timeout=4, message="the lexicon alone")
    code, out = run(uri, "model", "activate", "1", "--reason", "back to version 1")
    assert code == 0 and "in use / 使用中: 1 (was / 原为 None)" in out
    wait_until(lambda: source_on(alerts) == ("model", "negative"), timeout=4, message="version 1 again")
    changes = json.loads(run(uri, "model", "list", "--json")[1])["activations"]
    assert [(c["from"], c["to"], c["by"]) for c in changes] == [
        (None, 1, "cxctl"),
        (1, None, "cxctl"),
        (None, 1, "li.na"),
    ]
    assert changes[0]["reason"] == "back to version 1"

    code, out = run(uri, "model", "activate", "9", "--reason", "x")
    assert code != 0 and "NotFound" in out
    code, out = run(uri, "model", "activate", "1", "--reason", " ")
    assert code != 0 and "reason:" in out


def timer_run(container) -> None:
    with entrypoint_hook(container, "retrain_on_timer") as tick:
        tick()


def test_the_timer_retrains_once_per_period_whichever_replica_ticks(
    cx_config, container_factory, mongo_client
):
    uri = cx_config["AMQP_URI"]
    period = 12.0  # the lease lasts 90 % of it
    with config.patch({**SETTINGS, "MODEL_RETRAIN_SECONDS": period}):
        a, b = (container_factory(ProfilesService) for _ in range(2))
        a.start()
        b.start()
        publish_samples(uri)
        store = ModelStore(LexiconStore(mongo_client[database_name("lexicon")]))
        started = time.monotonic()
        timer_run(a)
        [first] = store.versions()["versions"]
        assert first["by"] == "timer" and store.active_number() == first["_id"]
        with FeedbackPublisher(uri) as publisher:  # new comments: a new model would differ
            for n in range(30):
                publisher.publish(
                    json.dumps(
                        {
                            "schema_version": 1,
                            "event_id": f"more-{n}",
                            "source": "app",
                            "occurred_at": "2026-11-30T10:00:00+08:00",
                            "customer": {"id": f"M{n}"},
                            "channel": "app",
                            "scores": {"nps": 0},
                            "text": "安装师傅放鸽子三次了",
                        },
                        ensure_ascii=False,
                    )
                )
        wait_queues_idle(uri, quiet=6, timeout=60)
        assert time.monotonic() - started < period * 0.9 - 1  # still a's period
        timer_run(b)  # a's lease holds: b trains nothing
        assert len(store.versions()["versions"]) == 1
        time.sleep(max(0.0, started + period * 0.9 + 0.5 - time.monotonic()))  # the period is over
        timer_run(b)
        versions = store.versions()["versions"]
        assert [v["_id"] for v in versions] == [2, 1] and versions[0]["by"] == "timer"
        assert versions[0]["window"]["comments"] == first["window"]["comments"] + 30
