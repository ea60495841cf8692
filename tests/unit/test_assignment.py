"""Assignment strategies as data: candidates, picks, directory validation."""

from pathlib import Path

import pytest
import yaml

from services.cases.assignment import (
    candidates,
    least_loaded_pick,
    load_directory,
    round_robin_pick,
    weight,
)
from services.common.errors import BadRequest

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "agents.yaml"


@pytest.fixture
def directory():
    return load_directory(yaml.safe_load(SAMPLE.read_text(encoding="utf-8")))


def strategy(directory, sid):
    return next(s for s in directory["strategies"] if s["id"] == sid)


def case(touchpoint=None, tier=None, level="P2"):
    return {"level": level, "event": {"touchpoint": touchpoint}, "customer": {"id": "C", "tier": tier}}


def ids(choice):
    return [a["id"] for a in choice.pool]


def test_off_shift_agents_are_never_candidates(directory):
    choice = candidates(strategy(directory, "care-balanced"), directory["agents"], case())
    assert ids(choice) == ["chen.jie", "emma.wu", "li.na", "wang.lei"]
    assert choice.why == ["4 of 5 cx-care agents on shift"]


def test_touchpoint_skill_match_narrows_and_falls_back(directory):
    s = strategy(directory, "care-balanced")
    assert ids(candidates(s, directory["agents"], case("delivery"))) == ["chen.jie", "li.na"]
    choice = candidates(s, directory["agents"], case("returns"))
    assert len(choice.pool) == 4 and "nobody skilled in returns; kept 4" in choice.why


def test_vip_customers_go_to_senior_agents(directory):
    s = strategy(directory, "care-balanced")
    assert ids(candidates(s, directory["agents"], case(tier="vip"))) == ["emma.wu", "li.na", "wang.lei"]
    assert ids(candidates(s, directory["agents"], case("delivery", tier="vip"))) == ["li.na"]
    assert ids(candidates(s, directory["agents"], case("delivery", tier="standard"))) == ["chen.jie", "li.na"]


def test_nobody_on_shift_leaves_an_empty_pool(directory):
    agents = [dict(a, on_shift=False) for a in directory["agents"]]
    assert candidates(strategy(directory, "care-balanced"), agents, case()).pool == []


def test_round_robin_and_least_loaded_picks():
    pool = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    assert [round_robin_pick(pool, n)["id"] for n in range(5)] == ["a", "b", "c", "a", "b"]
    assert least_loaded_pick(pool, {"a": 4, "b": 1, "c": 1})["id"] == "b"  # ties by id
    assert least_loaded_pick(pool, {"a": 0, "b": 1})["id"] == "a"


def test_level_weights(directory):
    s = strategy(directory, "care-balanced")
    assert [weight(s, lv) for lv in ("P1", "P2", "P3", "P4")] == [8, 4, 2, 1]
    assert weight(None, "P1") == 8


def test_directory_errors_name_the_field(directory):
    bad = {
        "teams": [{"id": "t", "name": "T", "lead": "ghost"}],
        "agents": [
            {"id": "a", "name": "A", "teams": ["nope"], "seniority": "boss"},
            {"id": "a", "name": "A2", "teams": ["t"]},
        ],
        "strategies": [{"id": "s", "team": "x", "pick": "random"}],
    }
    with pytest.raises(BadRequest) as info:
        load_directory(bad)
    assert set(info.value.errors) == {
        "agents.0.seniority: Must be one of: junior, regular, senior, lead.",
        "strategies.0.pick: Must be one of: round_robin, least_loaded.",
        "agents.id: duplicate ids: a",
        "agents.0.teams: unknown teams: nope",
        "teams.0.lead: unknown agent: ghost",
        "strategies.0.team: unknown team: x",
    }
