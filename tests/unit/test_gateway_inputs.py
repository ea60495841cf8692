"""What a gateway handler reads from its request (services/gateway/inputs.py), on werkzeug requests."""

from __future__ import annotations

import pytest
from werkzeug.test import EnvironBuilder

from services.gateway.errors import HttpError
from services.gateway.inputs import json_body, query, rule_document


def request(query_string="", method="GET", data=None, content_type=None, headers=None, document=None):
    builder = EnvironBuilder(
        path="/x",
        method=method,
        query_string=query_string,
        data=data,
        content_type=content_type,
        headers=headers,
    )
    req = builder.get_request()
    if document is not None:
        req.environ["cx.json"] = document  # what entrypoints.json_document parsed before the handler
    return req


def error_of(call) -> HttpError:
    with pytest.raises(HttpError) as caught:
        call()
    return caught.value


def test_query_applies_the_route_schema_with_its_defaults():
    assert query(request("limit=5&level=P1"), "alerts.list") == {"limit": 5, "offset": 0, "level": "P1"}


def test_a_repeated_query_parameter_is_a_400_naming_it():
    error = error_of(lambda: query(request("limit=5&limit=6"), "alerts.list"))
    assert error.status == 400
    assert error.errors == [{"field": "query.limit", "message": "give this parameter once"}]


def test_invalid_query_values_name_the_parameter():
    error = error_of(lambda: query(request("limit=0"), "alerts.list"))
    assert [e["field"] for e in error.errors] == ["query.limit"]


def test_an_empty_filter_means_any_on_console_pages_only():
    assert query(request("level=&status=open"), "console.queue")["status"] == "open"
    assert "level" not in query(request("level=&status=open"), "console.queue")
    error = error_of(lambda: query(request("level="), "cases.list"))
    assert [e["field"] for e in error.errors] == ["query.level"]


def test_json_body_returns_the_document_parsed_before_the_handler():
    req = request(method="POST", data=b'{"a": 1}', content_type="application/json", document={"a": 1})
    assert json_body(req) == {"a": 1}


def test_json_body_refusals():
    chunked = request(
        method="POST", headers={"Transfer-Encoding": "chunked"}, content_type="application/json"
    )
    assert error_of(lambda: json_body(chunked)).status == 411
    form = request(method="POST", data=b"a=1", content_type="application/x-www-form-urlencoded")
    assert error_of(lambda: json_body(form)).status == 415


def test_an_empty_body_reads_as_an_empty_object_only_when_allowed():
    empty = request(method="POST")
    assert json_body(empty, allow_empty=True) == {}
    assert error_of(lambda: json_body(empty)).status == 415


def test_a_document_the_services_could_not_store_is_a_400_unless_checked_per_item():
    document = {"text": "\ud800"}
    req = request(method="POST", data=b"{}", content_type="application/json", document=document)
    error = error_of(lambda: json_body(req))
    assert error.status == 400 and [e["field"] for e in error.errors] == ["body.text"]
    assert json_body(req, storable=False) is document


def test_a_rule_document_must_be_an_object():
    req = request(method="POST", data=b"[1]", content_type="application/json", document=[1])
    error = error_of(lambda: rule_document(req))
    assert error.status == 400 and error.errors[0]["field"] == "body"
