"""People and integrations who may call the gateway (validated like every other input)."""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from contracts.base import flatten_errors
from services.common.errors import BadRequest
from services.gateway.i18n import LANGUAGES
from services.gateway.routes import ID, ROLES

MIN_PASSWORD = 10


class UserSchema(Schema):
    class Meta:
        unknown = RAISE

    id = fields.String(required=True, validate=ID)
    name = fields.String(load_default=None, validate=validate.Length(max=200))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    teams = fields.List(fields.String(validate=ID), load_default=list)
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(LANGUAGES))
    password = fields.String(load_default=None, validate=validate.Length(min=MIN_PASSWORD, max=1024))

    @validates_schema
    def _integrations_use_tokens(self, data, **_):
        if data.get("role") == "integration" and data.get("password"):
            raise ValidationError("integrations use API tokens and cannot have a password", "password")


def load_user(document) -> dict:
    if not isinstance(document, dict):
        raise BadRequest("_schema: a user is an object")
    try:
        return UserSchema().load(document)
    except ValidationError as exc:
        raise BadRequest(flatten_errors(exc.messages)) from None
