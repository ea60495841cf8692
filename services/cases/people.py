"""The people directory (``contracts/people.py``) as the cases service, its owner,
saves and reads it: validated whole (the contract's checks and each strategy's
fields), saved as one revision, and announced as ``directory_changed`` so that
notify (and any other reader) replaces its projection with it.

The assignment code reads the projection ``agents_directory`` gives: teams, the
people in a team as agents, and the strategies."""

from __future__ import annotations

from datetime import UTC, datetime

from marshmallow import ValidationError

from contracts.base import flatten_errors
from contracts.people import load_people
from services.cases.assignment import StrategySchema
from services.common.errors import BadRequest

AGENT_FIELDS = ("id", "name", "teams", "skills", "seniority", "on_shift")
TEAM_FIELDS = ("id", "name", "lead", "calendar")


def load(document) -> dict:
    """The validated directory; BadRequest names each bad field (``people.3.channels``)."""
    try:
        directory = load_people(document)
    except ValidationError as exc:
        raise BadRequest(flatten_errors(exc.messages, "")) from None
    errors: list[str] = []
    strategies = []
    for i, strategy in enumerate(directory["strategies"]):
        try:
            strategies.append(StrategySchema().load(strategy))
        except ValidationError as exc:
            errors += flatten_errors(exc.messages, f"strategies.{i}")
    if errors:
        raise BadRequest(errors)
    return {**directory, "strategies": strategies}


def agents_directory(directory: dict) -> dict:
    """``{teams, agents, strategies}`` as assignment reads them (``assignment.py``)."""
    return {
        "teams": [{k: t.get(k) for k in TEAM_FIELDS} for t in directory["teams"]],
        # bool(): the embedded store gives back a boolean set by an update as 1 or 0
        "agents": [
            {**{k: p[k] for k in AGENT_FIELDS}, "on_shift": bool(p["on_shift"])}
            for p in directory["people"]
            if p["teams"]
        ],
        "strategies": list(directory["strategies"]),
    }


def as_saved(directory: dict) -> dict:
    """``directory`` as read back from the store, its flags booleans again (the embedded
    store gives back a boolean set by an update as 1 or 0)."""
    people = [{**p, "on_shift": bool(p["on_shift"]), "login": bool(p["login"])} for p in directory["people"]]
    return {**directory, "people": people}


def announcement(saved: dict) -> dict:
    """``directory_changed`` for a stored directory document."""
    return {
        "schema_version": 1,
        "revision": saved["revision"],
        "changed_at": datetime.fromtimestamp(saved["changed_at"], UTC),
        "by": saved["by"],
        "directory": as_saved(saved["directory"]),
    }


def summary(saved: dict) -> dict:
    directory = saved["directory"]
    return {
        "revision": saved["revision"],
        "people": len(directory["people"]),
        "teams": len(directory["teams"]),
        "strategies": len(directory["strategies"]),
    }
