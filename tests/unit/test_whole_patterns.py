"""Patterns match whole values (contracts.base.Pattern): Python's ``$`` also matches before a
final newline, JSON Schema's does not, so a value the services accepted could break the
published schema of a message it caused (an add-collaborator request with ``"person":
"x\\n"`` answered 500 in the full schemathesis run)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import fastjsonschema
import pytest
from marshmallow import ValidationError

from contracts.base import ID_PATTERN, Pattern, id_str
from services.alerts.conditions import parse_duration
from services.notify.render import TEMPLATE_NAME
from tests.fuzz.schema_strategy import load_schema

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["C42\n", "$C42", "C\x0042", "C42\r"])
def test_an_id_with_a_final_newline_or_a_control_character_is_refused(value):
    with pytest.raises(ValidationError):
        id_str(128).deserialize(value)


def test_an_id_is_refused_alike_by_the_request_check_and_the_published_schema():
    exported = load_schema("notification_requested")["properties"]["recipient"]["properties"]["id"]
    assert exported["pattern"] == ID_PATTERN  # exported as it is
    published = fastjsonschema.compile({"type": "string", "pattern": exported["pattern"]})
    for value in ("li.na\n", "$li.na", "li\x07na"):
        with pytest.raises(fastjsonschema.JsonSchemaValueException):
            published(value)
        with pytest.raises(ValidationError):
            id_str(128).deserialize(value)
    assert published("li.na") == "li.na" and id_str(128).deserialize("li.na") == "li.na"


def test_pattern_keeps_the_pattern_it_exports_and_names_its_error():
    check = Pattern(r"^[a-z]+$", error="lowercase")
    assert check.regex.pattern == "^[a-z]+$" and check("abc") == "abc"
    with pytest.raises(ValidationError, match="lowercase"):
        check("abc\n")
    assert re.match(ID_PATTERN, "x\n")  # what plain re.match (validate.Regexp) let through


def test_parsing_patterns_refuse_a_final_newline_too():
    with pytest.raises(ValueError):
        parse_duration("24h\n")
    assert TEMPLATE_NAME.fullmatch("zh-CN/alert.email.subject.j2\n") is None


def test_no_code_validates_with_plain_validate_regexp():
    found = subprocess.run(
        ["git", "grep", "-n", r"validate\.Regexp(", "--", "contracts", "services", "cxctl"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    assert [line for line in found if "class Pattern(validate.Regexp)" not in line] == []
