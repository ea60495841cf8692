"""Recipients directory: people and teams with addresses, IM handles, language,
time zone and quiet hours (免打扰), validated on apply.

A handle is a recipient's address on one IM channel, validated by that
channel's own ``Handle`` schema (``channels/<name>/``). A team's handle is
usually the group robot's webhook (and secret); a person's holds what
mentions them there (user id, mobile) and may have a webhook of its own.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates, validates_schema

from contracts.people import CLOCK, ID
from services.common.privacy import register_secret
from services.common.validation import load_valid
from services.notify.channels import CHANNELS
from services.notify.channels.base import Destination

IM_CHANNELS = tuple(name for name in CHANNELS if name != "email")


class Handles(fields.Field):
    """``{channel: handle}``, each handle validated by its channel's schema."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("a mapping of channel name to handle")
        out, errors = {}, {}
        for name, handle in value.items():
            if name not in IM_CHANNELS:
                errors[name] = [f"unknown IM channel; one of {', '.join(IM_CHANNELS)}"]
                continue
            if not isinstance(handle, dict):
                errors[name] = ["a mapping of handle fields"]
                continue
            try:
                out[name] = CHANNELS[name].Handle().load(handle)
            except ValidationError as exc:
                errors[name] = exc.messages
        if errors:
            raise ValidationError(errors)
        return out


class QuietHoursSchema(Schema):
    """Daily quiet period in the recipient's time zone; may span midnight (22:00–08:00)."""

    class Meta:
        unknown = RAISE

    start = fields.String(required=True, validate=CLOCK)
    end = fields.String(required=True, validate=CLOCK)

    @validates_schema
    def _not_empty(self, data, **_):
        if data.get("start") == data.get("end"):
            raise ValidationError("start and end must differ", "end")


class DigestSchema(Schema):
    """A scheduled digest of the person's open cases, breaches and top alerts."""

    class Meta:
        unknown = RAISE

    frequency = fields.String(required=True, validate=validate.OneOf(("daily", "weekly")))
    at = fields.String(load_default="09:00", validate=CLOCK)
    weekday = fields.Integer(load_default=0, validate=validate.Range(min=0, max=6))  # 0 = Monday
    channels = fields.List(
        fields.String(validate=validate.OneOf(tuple(CHANNELS))), load_default=lambda: ["email"]
    )


class _Recipient(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(("zh-CN", "en")))
    timezone = fields.String(load_default="Asia/Shanghai", validate=validate.Length(max=64))
    handles = Handles(load_default=dict)
    quiet_hours = fields.Nested(QuietHoursSchema, load_default=None, allow_none=True)

    @validates("timezone")
    def _zone(self, value, **_):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(
                f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)"
            ) from None


class PersonSchema(_Recipient):
    email = fields.Email(load_default=None)
    digest = fields.Nested(DigestSchema, load_default=None, allow_none=True)
    phone = fields.String(load_default=None, validate=validate.Length(max=64))


class TeamSchema(_Recipient):
    members = fields.List(fields.String(validate=ID), required=True, validate=validate.Length(min=1))


class DirectorySchema(Schema):
    class Meta:
        unknown = RAISE

    people = fields.List(fields.Nested(PersonSchema), load_default=list)
    teams = fields.List(fields.Nested(TeamSchema), load_default=list)

    @validates_schema(skip_on_field_errors=False)
    def _members_known(self, data, **_):
        known = {p.get("id") for p in data.get("people") or []}
        errors = {}
        for i, team in enumerate(data.get("teams") or []):
            missing = [m for m in team.get("members") or [] if m not in known]
            if missing:
                errors[f"teams.{i}.members"] = [f"unknown people: {', '.join(missing)}"]
        if errors:
            raise ValidationError(errors)


def load_directory(document) -> dict:
    return load_valid(DirectorySchema, document, shape="a recipients file is {people: [...], teams: [...]}")


def register_secrets(directory: dict, channels: dict) -> None:
    """Register every secret the directory's handles hold (signing secrets, the
    authenticating parts of webhook URLs) so that no log line shows them."""
    for entry in (*directory["people"], *directory["teams"]):
        for channel, handle in (entry.get("handles") or {}).items():
            if channel in channels:
                for secret in channels[channel].secrets(Destination(handle)):
                    register_secret(secret)
