"""The one way documents and requests are validated (services/common/validation.py)."""

import pytest
from marshmallow import fields, validate

from services.common.errors import BadRequest
from services.common.validation import StrictSchema, load_valid


class Team(StrictSchema):
    id = fields.String(required=True, validate=validate.Length(min=1))
    members = fields.List(fields.Nested(lambda: Member()), load_default=list)


class Member(StrictSchema):
    id = fields.String(required=True)


def test_a_valid_document_loads():
    assert load_valid(Team, {"id": "care", "members": [{"id": "li.na"}]}) == {
        "id": "care",
        "members": [{"id": "li.na"}],
    }


def test_every_bad_field_is_named_with_its_path_and_unknown_fields_are_refused():
    with pytest.raises(BadRequest) as caught:
        load_valid(Team, {"id": "", "members": [{"id": "x", "role": "lead"}], "colour": "red"})
    assert sorted(caught.value.errors) == [
        "colour: Unknown field.",
        "id: Shorter than minimum length 1.",
        "members.0.role: Unknown field.",
    ]


def test_a_document_that_is_not_an_object_is_refused_with_its_expected_shape():
    with pytest.raises(BadRequest) as caught:
        load_valid(Team, ["care"], shape="a team is {id, members: [...]}")
    assert caught.value.errors == ["_schema: a team is {id, members: [...]}"]


def test_the_caller_chooses_the_error_type():
    class RuleError(ValueError):
        def __init__(self, errors):
            super().__init__("; ".join(errors))
            self.errors = errors

    with pytest.raises(RuleError) as caught:
        load_valid(Team(), {}, error=RuleError)
    assert caught.value.errors == ["id: Missing data for required field."]
