"""The people directory (``people.yaml``): every person once, the teams, and the
assignment strategies. The cases service owns it (docs/cases.md, "People
directory"); it validates a whole document with ``load_people`` and announces each
saved revision as ``directory_changed``; notify and the other readers project it.

A person is assignable when they belong to a team (cases owned by the team, its
strategies or its lead reach them); an assignable person must be reachable by
notify: an email address, an IM handle with a webhook of its own, or an IM handle
(a user id to mention) on a channel where one of their teams has a robot webhook.
A phone number alone reaches nobody (notify has no SMS channel for staff).

Each IM handle is checked here field for field as its channel reads it (``HANDLES``);
notify checks it again with the channel's own schema when it projects.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema

from contracts.base import Pattern

ID = Pattern(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$", error="letters, digits, '.', '_', '@' or '-'")
CLOCK = Pattern(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", error="a time of day HH:MM (24 h)")
PEOPLE_ROLES = ("agent", "owner", "admin")
SENIORITY = ("junior", "regular", "senior", "lead")
LANGUAGES = ("zh-CN", "en")
IM_CHANNELS = ("dingtalk", "feishu", "wecom", "slack", "teams", "webhook")
WEBHOOK_FIELDS = ("webhook", "url")  # the handle fields that are a robot's own address


class _Strict(Schema):
    class Meta:
        unknown = RAISE


def _zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from None


def _url() -> fields.Url:
    # require_tld=False: private robots and the local test receivers use IPs
    return fields.Url(schemes={"http", "https"}, require_tld=False)


MOBILE = Pattern(r"^\+?[0-9][0-9-]{4,19}$", error="a mobile number: digits, optional + and -")
USER_ID = validate.Length(min=1, max=128)


class _Handle(_Strict):
    """One IM channel's handle, field for field what that channel's notify folder reads
    (``services/notify/channels/<name>/Handle``; tests/unit/test_people_directory.py
    checks the two accept and refuse the same handles)."""

    @validates_schema
    def _not_empty(self, data, **_):
        if not data:
            raise ValidationError("an empty handle reaches nobody")


class DingTalkHandle(_Handle):
    webhook = _url()
    secret = fields.String(validate=validate.Length(min=8, max=200))
    user_id = fields.String(validate=USER_ID)
    mobile = fields.String(validate=MOBILE)


class FeishuHandle(_Handle):
    webhook = _url()
    secret = fields.String(validate=validate.Length(min=8, max=200))
    user_id = fields.String(validate=USER_ID)
    format = fields.String(validate=validate.OneOf(("card", "text")))


class WeComHandle(_Handle):
    webhook = _url()
    user_id = fields.String(validate=USER_ID)
    mobile = fields.String(validate=MOBILE)
    format = fields.String(validate=validate.OneOf(("markdown", "text")))


class SlackHandle(_Handle):
    webhook = _url()
    user_id = fields.String(validate=USER_ID)


class TeamsHandle(_Handle):
    webhook = _url()
    user_principal_name = fields.Email()


class WebhookRate(_Strict):
    per_minute = fields.Float(required=True, validate=validate.Range(min=1, max=600_000))
    burst = fields.Integer(required=True, validate=validate.Range(min=1, max=10_000))


class WebhookHandle(_Handle):
    url = _url()
    secret = fields.String(required=True, validate=validate.Length(min=16, max=256))
    rate = fields.Nested(WebhookRate)


HANDLES: dict[str, type[_Handle]] = {
    "dingtalk": DingTalkHandle,
    "feishu": FeishuHandle,
    "wecom": WeComHandle,
    "slack": SlackHandle,
    "teams": TeamsHandle,
    "webhook": WebhookHandle,
}


class QuietHours(_Strict):
    """A daily quiet period in the person's time zone; may span midnight."""

    start = fields.String(required=True, validate=CLOCK)
    end = fields.String(required=True, validate=CLOCK)

    @validates_schema
    def _not_empty(self, data, **_):
        if data.get("start") == data.get("end"):
            raise ValidationError("start and end must differ", "end")


def _handle(channel: str, vendor: str) -> fields.Nested:
    return fields.Nested(HANDLES[channel], load_default=None, metadata={"description": f"{vendor} handle"})


class TeamChannels(_Strict):
    """IM handles (``IM_CHANNELS``): a team's are usually its group robot's webhook."""

    dingtalk = _handle("dingtalk", "DingTalk")
    feishu = _handle("feishu", "Feishu")
    wecom = _handle("wecom", "WeCom")
    slack = _handle("slack", "Slack")
    teams = _handle("teams", "Microsoft Teams")
    webhook = _handle("webhook", "signed webhook")

    @post_load
    def _given_only(self, data, **_):
        return {name: value for name, value in data.items() if value is not None}


class PersonChannels(TeamChannels):
    """A person's email, phone and IM handles (what mentions them; maybe a webhook of their own)."""

    email = fields.Email(load_default=None)
    phone = fields.String(load_default=None, validate=validate.Length(max=64))


class Digest(_Strict):
    frequency = fields.String(required=True, validate=validate.OneOf(("daily", "weekly")))
    at = fields.String(load_default="09:00", validate=CLOCK)
    weekday = fields.Integer(load_default=0, validate=validate.Range(min=0, max=6))
    channels = fields.List(
        fields.String(validate=validate.Length(min=1, max=32)), load_default=lambda: ["email"]
    )


class Person(_Strict):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    role = fields.String(load_default="agent", validate=validate.OneOf(PEOPLE_ROLES))
    login = fields.Boolean(
        load_default=True, metadata={"description": "may sign in (the password is set separately)"}
    )
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(LANGUAGES))
    timezone = fields.String(load_default="Asia/Shanghai", validate=[validate.Length(min=1, max=64), _zone])
    teams = fields.List(fields.String(validate=ID), load_default=list)
    skills = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list)
    seniority = fields.String(load_default="regular", validate=validate.OneOf(SENIORITY))
    on_shift = fields.Boolean(load_default=True)
    channels = fields.Nested(PersonChannels, load_default=dict)
    quiet_hours = fields.Nested(QuietHours, load_default=None, allow_none=True)
    digest = fields.Nested(Digest, load_default=None, allow_none=True)


class Team(_Strict):
    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    lead = fields.String(load_default=None, validate=ID)
    calendar = fields.String(load_default=None, validate=validate.Length(max=64))
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(LANGUAGES))
    timezone = fields.String(load_default="Asia/Shanghai", validate=[validate.Length(min=1, max=64), _zone])
    channels = fields.Nested(TeamChannels, load_default=dict)
    quiet_hours = fields.Nested(QuietHours, load_default=None, allow_none=True)


class PeopleDirectory(_Strict):
    """``{people: [...], teams: [...], strategies: [...]}``; team members are the
    people naming the team (a team has no member list of its own)."""

    people = fields.List(fields.Nested(Person), required=True)
    teams = fields.List(fields.Nested(Team), required=True)
    strategies = fields.List(
        fields.Dict(keys=fields.String()),
        load_default=list,
        metadata={"description": "assignment strategies (the cases service checks their fields)"},
    )

    @validates_schema(skip_on_field_errors=True)
    def _consistent(self, data, **_):
        errors = {**duplicates(data), **references(data), **unreachable(data)}
        if errors:
            raise ValidationError(errors)


def duplicates(data: dict) -> dict[str, list[str]]:
    errors = {}
    for name in ("people", "teams", "strategies"):
        ids = [item.get("id") for item in data.get(name) or []]
        for i, item_id in enumerate(ids):
            if item_id in ids[:i]:
                errors[f"{name}.{i}.id"] = [f"duplicate id {item_id} (also {name}.{ids.index(item_id)})"]
    return errors


def references(data: dict) -> dict[str, list[str]]:
    people = {p["id"] for p in data["people"]}
    teams = {t["id"] for t in data["teams"]}
    errors = {}
    for i, person in enumerate(data["people"]):
        unknown = [t for t in person["teams"] if t not in teams]
        if unknown:
            errors[f"people.{i}.teams"] = [f"unknown teams: {', '.join(unknown)}"]
    for i, team in enumerate(data["teams"]):
        if team.get("lead") and team["lead"] not in people:
            errors[f"teams.{i}.lead"] = [f"{team['lead']} is not a person in this directory"]
    for i, strategy in enumerate(data.get("strategies") or []):
        if strategy.get("team") not in teams:
            errors[f"strategies.{i}.team"] = [f"unknown team: {strategy.get('team')}"]
    return errors


def assignable_why(person: dict, leads: set[str]) -> str | None:
    """Why ``person`` can be given cases (None: they cannot)."""
    if person["teams"]:
        return f"role {person['role']}, team {', '.join(person['teams'])}"
    if person["id"] in leads:
        return f"role {person['role']}, leads a team"
    return None


def reachable(person: dict, teams: dict[str, dict]) -> bool:
    """Whether notify can reach ``person`` on some channel (see the module's doc)."""
    channels = person.get("channels") or {}
    if channels.get("email"):
        return True
    for name in IM_CHANNELS:
        handle = channels.get(name)
        if not handle:
            continue
        if any(handle.get(f) for f in WEBHOOK_FIELDS):
            return True
        for team_id in person["teams"]:
            robot = (teams.get(team_id, {}).get("channels") or {}).get(name) or {}
            if any(robot.get(f) for f in WEBHOOK_FIELDS):
                return True
    return False


def unreachable(data: dict) -> dict[str, list[str]]:
    teams = {t["id"]: t for t in data["teams"]}
    leads = {t["lead"] for t in data["teams"] if t.get("lead")}
    errors = {}
    for i, person in enumerate(data["people"]):
        why = assignable_why(person, leads)
        if why and not reachable(person, teams):
            errors[f"people.{i}.channels"] = [
                f"{person['id']} can be assigned cases ({why}) but has no channel notify can reach"
                " (an email, or an IM handle with a webhook of its own or of one of their teams)"
            ]
    return errors


def members(directory: dict, team_id: str) -> list[str]:
    """The ids of the people in ``team_id``, in directory order."""
    return [p["id"] for p in directory["people"] if team_id in p["teams"]]


def load_people(document) -> dict:
    """The validated directory; ``ValidationError`` with messages keyed by field path."""
    if not isinstance(document, dict):
        raise ValidationError(
            {"_schema": ["a people file is {people: [...], teams: [...], strategies: [...]}"]}
        )
    return PeopleDirectory().load(document)
