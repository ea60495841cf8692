"""notify's projection of the people directory (``contracts/people.py``, owned by
the cases service and announced as ``directory_changed``): the recipients
directory (``directory.py``) it implies. A person's IM handles are their
``channels`` other than email and phone; a team's members are the people naming it
(a team nobody names has nobody to tell and is left out)."""

from __future__ import annotations

from contracts.people import IM_CHANNELS, members
from services.notify.directory import load_directory

PERSON_FIELDS = ("id", "name", "language", "timezone", "quiet_hours", "digest")
TEAM_FIELDS = ("id", "name", "language", "timezone", "quiet_hours")


def _handles(channels: dict) -> dict:
    return {name: channels[name] for name in IM_CHANNELS if channels.get(name)}


def recipients_document(directory: dict) -> dict:
    """The recipients file the people directory implies (unvalidated)."""
    people = []
    for person in directory["people"]:
        channels = person.get("channels") or {}
        doc = {k: person[k] for k in PERSON_FIELDS if person.get(k) is not None}
        doc.update({k: channels[k] for k in ("email", "phone") if channels.get(k)})
        doc["handles"] = _handles(channels)
        people.append(doc)
    teams = []
    for team in directory["teams"]:
        ids = members(directory, team["id"])
        if ids:
            doc = {k: team[k] for k in TEAM_FIELDS if team.get(k) is not None}
            teams.append({**doc, "members": ids, "handles": _handles(team.get("channels") or {})})
    return {"people": people, "teams": teams}


def recipients(directory: dict) -> dict:
    """The validated recipients directory (BadRequest names a handle a channel refuses,
    ``people.2.handles.dingtalk.webhook``)."""
    return load_directory(recipients_document(directory))
