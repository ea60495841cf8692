"""schemathesis against the running gateway, driven by the OpenAPI document it serves.

The CLI runs out of process from its own venv (``.venv-schemathesis``, made by
scripts/lib.sh: its dependencies would clash with the services' pins). As an
admin, over 127.0.0.1, it loads ``/api/v1/openapi.json`` and sends valid and
invalid requests to every operation; half the time a path parameter is one of
the seeded ids, so case actions, rules and profiles reach real objects. It
fails on any 5xx, a status or content type the document does not list, a body
that breaks the documented response schema, or invalid input that is accepted.

Afterwards every feedback event the gateway accepted must have gone through
the alerts and profiles services (nothing dead-lettered), and no service may
have logged an error: a bad request must not get past the gateway and crash
a worker downstream.

CI runs ``CX_FUZZ_EXAMPLES`` (default 10) examples per operation; the full run
documented in docs/security.md raises it.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import time
from pathlib import Path

import pytest
from nameko import config as nameko_config

from services.common.inbox import Busy
from tests.conftest import wait_until
from tests.e2e.gateway_stack import gateway  # noqa: F401 - the fixture
from tests.e2e.test_gateway import seed_cases

ROOT = Path(__file__).resolve().parents[2]
ST = ROOT / ".venv-schemathesis" / "bin" / "st"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
SERVICES = ("alerts", "cases", "profiles", "notify")
FEEDBACK_CONSUMERS = ("alerts", "profiles")


def seeded_ids(gw) -> dict[str, list[str]]:
    """Two cases (with their alerts and profiles) and the two rules of gateway_stack."""
    seed_cases(gw)
    return {
        "case_id": [c["_id"] for c in gw.rpc.cases.list_cases()],
        "alert_id": [a["_id"] for a in gw.rpc.alerts.list_alerts()],
        "rule_id": [r["id"] for r in gw.rpc.alerts.list_rules()],
        "customer_id": ["C42", "C77"],
    }


def write_config(path: Path, ids: dict[str, list[str]]) -> Path:
    """schemathesis.toml: the admin's token (from the environment, so it is in neither the
    command line nor the file) and each path parameter taking a seeded id half the time."""
    lines = ['headers = { Authorization = "Bearer ${CX_FUZZ_TOKEN}" }\n']
    for name, values in ids.items():
        lines.append(f"[dictionaries.{name}]\nvalues = {json.dumps(values)}\n")
    lines.append("[parameters]")
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = 0.5 }}' for name in ids]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_schemathesis(gw, work: Path, ids: dict, examples: int, seed: int, timeout: float):
    """``st run`` against the served document; returns (completed process, seconds)."""
    command = [
        str(ST),
        "--no-color",
        "--config-file",
        str(write_config(work / "schemathesis.toml", ids)),
        "run",
        f"{gw.url}/api/v1/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--mode",
        "all",  # positive and negative (malformed) data
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--suppress-health-check",
        "all",
        "--generation-database",
        "none",
        "--report",
        "ndjson",
        "--report-ndjson-path",
        str(work / "events.ndjson"),
    ]
    started = time.monotonic()
    env = {**os.environ, "CX_FUZZ_TOKEN": gw.tokens["admin"]}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=work, env=env)
    return done, time.monotonic() - started


def interactions(report: Path):
    """Each (case, request/response) pair the ndjson report recorded."""
    for line in report.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        recorder = (event.get("ScenarioFinished") or {}).get("recorder") or {}
        for case_id, case in (recorder.get("cases") or {}).items():
            interaction = (recorder.get("interactions") or {}).get(case_id)
            if interaction and interaction.get("response"):
                yield case["value"], interaction


def figures(report: Path, documented: set[str]) -> dict:
    """Operations, test cases and failures of the run, and the events the gateway accepted."""
    cases, other_methods, statuses, accepted = 0, 0, {}, set()
    operations, failures = set(), set()
    for line in report.read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        recorder = (event.get("ScenarioFinished") or {}).get("recorder") or {}
        for checks in (recorder.get("checks") or {}).values():
            failures |= {(c["name"], recorder["label"]) for c in checks if c.get("status") == "failure"}
    for case, interaction in interactions(report):
        cases += 1
        status = interaction["response"]["status_code"]
        statuses[status] = statuses.get(status, 0) + 1
        operation = f"{case['method']} {case['path']}"
        if operation in documented:
            operations.add(operation)
        else:
            other_methods += 1  # e.g. DELETE on a GET route: 405 expected
        if case["path"] == "/api/v1/feedback" and status == 202:
            body = json.loads(base64.b64decode(interaction["response"]["content"]["$base64"]))
            accepted |= {(r["source"], r["event_id"]) for r in body["results"] if r["status"] == "accepted"}
    return {
        "operations": operations,
        "cases": cases,
        "other_methods": other_methods,
        "statuses": statuses,
        "failures": sorted(failures),
        "accepted": accepted,
    }


def api_operations(gw) -> set[str]:
    """The document's operations, less the one serving the document (schemathesis skips it)."""
    document = gw.api("admin", "GET", "/api/v1/openapi.json").json()
    everything = {f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops}
    return everything - {"GET /api/v1/openapi.json"}


def processed_events(mongo_client, db_prefix: str, service: str) -> set:
    inbox = mongo_client[f"{db_prefix}{service}"].feedback_inbox
    return {(d["source"], d["event_id"]) for d in inbox.find({"state": "done"})}


@pytest.fixture
def unthrottled(cx_config):
    """The gateway's per-client limit out of the way: at its default (600 a minute in bursts
    of 120) most of the run's requests came back 429 and reached no handler."""
    with nameko_config.patch({"GATEWAY_RATE_PER_MINUTE": 10**7, "GATEWAY_RATE_BURST": 10**6}):
        yield


def test_schemathesis_finds_no_failure(
    unthrottled,
    gateway,  # noqa: F811
    mongo_client,
    db_prefix,
    tmp_path,
    caplog,
):
    if not ST.exists():
        pytest.fail(f"no {ST}: scripts/test.sh installs it (scripts/lib.sh install_python)")
    caplog.set_level(logging.WARNING)
    ids = seeded_ids(gateway)
    seeded = processed_events(mongo_client, db_prefix, "alerts")
    examples = int(os.environ.get("CX_FUZZ_EXAMPLES", "10"))
    seed = int(os.environ.get("CX_FUZZ_SEED", "20261120"))
    done, seconds = run_schemathesis(gateway, tmp_path, ids, examples, seed, timeout=300 + 15 * examples)
    report = tmp_path / "events.ndjson"
    found = figures(report, api_operations(gateway)) if report.exists() else {}
    print(done.stdout[-3000:])
    print(
        f"schemathesis: {len(found.get('operations', ()))} operations, {found.get('cases')} cases "
        f"({found.get('other_methods')} with undocumented methods), {len(found.get('failures', ()))} "
        f"failures, {seconds:.1f} s, statuses {found.get('statuses')}"
    )
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]
    # the run reached every API operation of the document, with both kinds of data
    assert found["operations"] == api_operations(gateway)
    assert found["failures"] == []
    assert {200, 202, 400, 404} <= set(found["statuses"])
    # the requests reached the handlers: a 429 is left only where an operation limits
    # itself (a template's test sends), not the gateway turning the run away
    assert found["statuses"].get(429, 0) <= 0.02 * found["cases"], found["statuses"]

    # every accepted event went through both consumers, none dead-lettered on the way
    expected = seeded | found["accepted"]
    for service in FEEDBACK_CONSUMERS:
        wait_until(
            lambda s=service: processed_events(mongo_client, db_prefix, s) >= expected,
            timeout=90,
            message=f"{service} to process the accepted events",
        )
    dead = {s: getattr(gateway.rpc, s).stats().get("dead_letters") for s in SERVICES}
    assert dead == {s: {} for s in SERVICES}
    errors = [
        f"{r.name}: {r.getMessage()[:300]}"
        for r in caplog.records
        # Busy: two copies of one event at once; the second is requeued by design (Inbox)
        if r.levelno >= logging.ERROR and not (r.exc_info and isinstance(r.exc_info[1], Busy))
    ]
    assert errors == []


def post_raw(gw, path: str, body: bytes, method: str = "POST", **headers):
    headers = {"Content-Type": "application/json", **headers}
    return gw.api("admin", method, path, data=body, headers=headers)


def error_fields(response) -> list[str]:
    return [e["field"] for e in response.json()["error"].get("errors", [])]


def test_what_schemathesis_found_is_refused_by_field_and_reaches_no_service(
    gateway,  # noqa: F811
    mongo_client,
    db_prefix,
    caplog,
):
    """Each request here answered 500, or was accepted and then failed in every
    consumer until it was dead-lettered, before the fixes it names."""

    caplog.set_level(logging.WARNING)
    gw = gateway
    seed_cases(gw)
    event = {
        "schema_version": 1,
        "event_id": "hostile",
        "source": "survey-app",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "customer": {"id": "C42"},
        "channel": "wechat",
    }

    def ingest(**overrides):
        return gw.api("admin", "POST", "/api/v1/feedback", json={**event, **overrides})

    # occurred_at whose UTC conversion overflowed: 500
    r = ingest(occurred_at="0001-01-01T00:00:00+01:00")
    assert r.status_code == 400 and error_fields(r) == ["occurred_at"]
    # an unpaired surrogate could not be encoded for publishing: 500
    body = json.dumps({**event, "text": "\ud800"}).encode()
    r = post_raw(gw, "/api/v1/feedback", body)
    assert r.status_code == 400 and error_fields(r) == ["text"]
    # json.loads' recursion limit: 500
    r = post_raw(gw, "/api/v1/feedback", b"[" * 5000 + b"]" * 5000)
    assert r.status_code == 400 and error_fields(r) == ["body"]
    r = post_raw(gw, "/api/v1/rules/backtest", b'{"rule": "refund", "examples": NaN}')
    assert r.status_code == 400 and "NaN is not a JSON number" in r.text
    # accepted with 202, then refused by MongoDB in the alerts consumer three times
    # and dead-lettered; in a batch only that item is refused now
    batch = [{**event, "attributes": {"a\x00b": 1}}, {**event, "event_id": "h2", "attributes": {"n": 10**30}}]
    r = gw.api("admin", "POST", "/api/v1/feedback", json=[*batch, {**event, "event_id": "fine"}])
    assert r.status_code == 202 and r.json()["accepted"] == 1
    assert [e["errors"][0]["field"] for e in r.json()["results"][:2]] == [
        "attributes.a\\x00b",
        "attributes.n",
    ]
    # the full 200-example run (2026-12-07) once the rate limit was lifted: Python's "$" also
    # matched before a final newline, so "person": "x\n" passed the request's id check, then
    # broke notification_requested's published pattern in the cases service: 500
    case_id = gw.rpc.cases.list_cases()[0]["_id"]
    r = gw.api(
        "admin",
        "POST",
        f"/api/v1/cases/{case_id}/add_collaborator",
        json={"person": "li.na\n", "role": "logistics"},
    )
    assert r.status_code == 422 and error_fields(r) == ["person"], r.text  # the cases service names it
    r = gw.api("admin", "POST", "/api/v1/rules", json={"id": "newline\n", "name": "n"})
    assert r.status_code == 400 and "id" in error_fields(r), r.text
    # the same hazards in bodies that go to the services over RPC
    r = post_raw(gw, "/api/v1/cases/x/comment", b'{"text": "hi", "comment_id": "\\udc00"}')
    assert r.status_code == 400 and error_fields(r) == ["body.comment_id"]
    r = gw.api("admin", "POST", "/api/v1/rules", json={"id": "r1", "tags": [2**64]})
    assert r.status_code == 400 and error_fields(r) == ["body.tags.0"]
    # a rule body that is not an object crashed alerts.update_rule ({**1.5}): 500
    r = gw.api("admin", "PUT", "/api/v1/rules/refund", json=1.7976931348623157e308)
    assert r.status_code == 400 and error_fields(r) == ["body"]
    # over RPC the argument guard (services/common/rpc.py) refuses it before the handler
    with pytest.raises(Exception, match="document: must be an object"):
        gw.rpc.alerts.update_rule("refund", [1])
    # dashboard periods past datetime's range overflowed in the gateway and in cases.metrics: 500
    for query, field in (
        ("since=0001-01-01T00:00:00%2B01:00", "query.since"),
        ("until=9999-12-31T23:59:59-01:00", "query.until"),
        ("until=0001-01-05T00:00:00%2B00:00", "query.until"),
    ):
        r = gw.api("admin", "GET", "/api/v1/metrics?" + query)
        assert r.status_code == 400 and error_fields(r) == [field], query
    # a "; " inside one message of the alerts service no longer makes a second, nameless error
    r = gw.api("admin", "POST", "/api/v1/rules/backtest", json={"rule": "refund", "since": "99999d"})
    assert r.status_code == 400 and error_fields(r) == ["since"]
    # werkzeug reads a chunked body (no Content-Length) as empty: "invalid rule" misled
    r = post_raw(gw, "/api/v1/rules", iter([b'{"id": "r1"}']))
    assert r.status_code == 411 and "Content-Length" in r.json()["error"]["message"]
    with nameko_config.patch({"HTTP_MAX_BODY_BYTES": 1000}):
        r = post_raw(gw, "/api/v1/rules", b'{"id": "' + b"x" * 2000 + b'"}')
    assert r.status_code == 413

    wait_until(lambda: ("survey-app", "fine") in processed_events(mongo_client, db_prefix, "alerts"))
    assert {s: getattr(gw.rpc, s).stats().get("dead_letters") for s in SERVICES} == {s: {} for s in SERVICES}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
