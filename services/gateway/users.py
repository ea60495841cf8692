"""People and integrations who may call the gateway (validated like every other input)."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from services.common.validation import StrictSchema, load_valid
from services.gateway.i18n import LANGUAGES
from services.gateway.routes import ID, ROLES

MIN_PASSWORD = 10


class UserSchema(StrictSchema):
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
    return load_valid(UserSchema, document, shape="a user is an object")
