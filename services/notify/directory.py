"""Recipients directory: people and teams, validated on apply."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from contracts.base import flatten_errors
from services.common.errors import BadRequest

ID = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$", error="letters, digits, '.', '_', '@' or '-'")


class PersonSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(load_default=None)
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(("zh-CN", "en")))
    timezone = fields.String(load_default="Asia/Shanghai", validate=validate.Length(max=64))
    phone = fields.String(load_default=None, validate=validate.Length(max=64))


class TeamSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
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
    if not isinstance(document, dict):
        raise BadRequest("_schema: a recipients file is {people: [...], teams: [...]}")
    try:
        return DirectorySchema().load(document)
    except ValidationError as exc:
        raise BadRequest(flatten_errors(exc.messages)) from None
