"""NoSQL operator injection on every input the HTTP API and the RPC methods take.

Both sides are enumerated, not listed: every Route of the gateway's table with
each of its path parameters, query parameters and JSON body fields, and every
``@rpc`` method of every service (services/*/service.py) with each of its
parameters. A new route or RPC is attacked without anyone writing a line
here; an RPC parameter without a type annotation stops the service (and fails
``test_every_rpc_is_guarded_and_every_parameter_typed``).

Each attack (an operator object where an id or a filter goes, a string
starting with ``$``, a ``$``/dotted key anywhere in a body) must be refused
(400 / BadRequest) naming the field, and the databases must be byte-for-byte
what they were: nothing matched, nothing changed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import bson
import eventlet
import pytest
from nameko import config
from nameko.exceptions import RemoteError

from services.common.rpc import GuardedRpc, Id, parameter_rules
from services.gateway.routes import ROUTES, PathValues
from tests.e2e.gateway_stack import csrf_of, feedback, gateway, seed_cases  # noqa: F401 - the fixture
from tests.security.inventory import rpc_methods, service_classes

NONE = type(None)
OPERATORS = ({"$ne": None}, {"$gt": ""}, {"$where": "sleep(1000)"}, {"$regex": ".*"})
RPC_OPERATORS = OPERATORS[::2]  # RPC: fewer per argument, there are hundreds of arguments
DOLLAR_STRINGS = ("$where", "$ne", "$customer.id")


def test_every_rpc_is_guarded_and_every_parameter_typed():
    classes = {cls.name: cls for cls in service_classes()}
    assert {"alerts", "cases", "profiles", "notify", "gateway", "ingest"} <= set(classes)
    count = 0
    for cls in classes.values():
        for name, method, entrypoints in rpc_methods(cls):
            assert all(isinstance(e, GuardedRpc) for e in entrypoints), f"{cls.name}.{name} is not guarded"
            parameter_rules(method)  # raises for a parameter without an annotation
            count += 1
    assert count >= 60


def benign(kinds: tuple) -> Any:
    """A value of an accepted type (the other arguments of an attacked call)."""
    for kind, value in ((Id, "x"), (str, "x"), (int, 1), (float, 1.0), (bool, True), (dict, {}), (list, [])):
        if kind in kinds:
            return value
    return None if NONE in kinds else "x"


def rpc_attacks(name: str, kinds: tuple) -> list[tuple[Any, str]]:
    """(value, the field the refusal must name) for one parameter."""
    out = []
    takes_objects = dict in kinds or Any in kinds
    for operator in RPC_OPERATORS:
        out.append((operator, f"{name}.{next(iter(operator))}" if takes_objects else name))
    if Id in kinds:
        out.append(("$where", name))
    if list in kinds:
        out.append(([{"$gt": ""}], f"{name}.0.$gt"))
    if takes_objects:
        out += [
            ({"a": {"b.c": 1}}, f"{name}.a.b.c"),
            ({"customer": {"id": {"$ne": None}}}, f"{name}.customer.id.$ne"),
        ]
    return out


def snapshot(mongo_client, prefix: str) -> dict:
    """Every document of every database of this test, as BSON bytes."""
    out = {}
    for db_name in sorted(n for n in mongo_client.list_database_names() if n.startswith(prefix)):
        db = mongo_client[db_name]
        for coll in sorted(db.list_collection_names()):
            docs = [bson.encode(d) for d in db[coll].find()]
            out[f"{db_name}.{coll}"] = sorted(docs)
    return out


def settle(gateway):  # noqa: F811
    """The seeded events fully processed: the queues idle."""
    from cxctl.broker import wait_queues_idle

    wait_queues_idle(config["AMQP_URI"], quiet=6, timeout=30)


def rpc_refusals(rpc) -> tuple[int, list[str]]:
    """Every attack on every argument of every running service's RPC methods, sent
    together; returns (attacks, the ones not refused with BadRequest naming the field)."""
    running = {"alerts", "cases", "profiles", "notify", "gateway"}
    sent = []  # (what, field, reply)
    for cls in service_classes():
        if cls.name not in running:
            continue
        for method_name, method, _ in rpc_methods(cls):
            rules = parameter_rules(method)
            proxy = getattr(getattr(rpc, cls.name), method_name)
            for target, kinds in rules.items():
                for value, field in rpc_attacks(target, kinds):
                    kwargs = {p: benign(k) for p, k in rules.items() if p != target}
                    kwargs[target] = value
                    what = f"{cls.name}.{method_name}({target}={value!r})"
                    sent.append((what, field, proxy.call_async(**kwargs)))
    unnamed = []
    for what, field, reply in sent:
        try:
            result = reply.result()
        except RemoteError as exc:
            lines = str(exc.value).split("; ")
            if exc.exc_type == "BadRequest" and any(line.startswith(f"{field}:") for line in lines):
                continue
            unnamed.append(f"{what}: {exc.exc_type} {exc.value}")
        else:
            unnamed.append(f"{what} answered {result!r:.100}")
    return len(sent), unnamed


def path_of(route, values: dict) -> str:
    path = route.path
    for name, value in values.items():
        path = path.replace(f"<{name}>", quote(value, safe=""))
    return path


def refused_fields(response) -> set[str]:
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return {e["field"] for e in response.json()["error"].get("errors", [])}
    return {"(page)"} if "error" in response.text else set()


def http_attacks(good: dict) -> list[tuple]:
    """(route, path, JSON body or None, the field the 400 must name) for every input
    of every route: path parameters, query parameters, JSON bodies and their fields."""
    out = []
    for route in ROUTES:
        for name in [p for p in PathValues().fields if f"<{p}>" in route.path]:
            for text in DOLLAR_STRINGS:  # a path segment is text: operators arrive as "$…"
                out.append((route, path_of(route, {**good, name: text}), None, f"path.{name}"))
        path = path_of(route, good)
        for name in route.query().fields:
            for suffix in ("[$ne]", "[$gt]", ".$where"):
                out.append((route, f"{path}?{name}{suffix}=1", None, f"query.{name}{suffix}"))
            out.append((route, f"{path}?{name}=$where", None, f"query.{name}"))
        out.append((route, f"{path}?$where=1", None, "query.$where"))
        if route.kind != "api" or route.method == "GET":
            continue
        if route.name == "feedback.ingest":  # the contract checks each event of a batch on its own
            bodies = [
                (feedback(**{"$where": "1"}), "$where"),
                (feedback(attributes={"a.b": 1}), "attributes.a.b"),
                ({**feedback(), "customer": {"id": {"$ne": None}}}, "customer.id"),
                ({**feedback(), "customer": {"id": {"$ne": None}}}, "customer.id.$ne"),
                (feedback(customer="$where"), "customer.id"),
                (feedback(source="$where"), "source"),
                (feedback(event_id={"$gt": ""}), "event_id"),
                (feedback(extra={"deep": [{"$where": "1"}]}), "extra.deep.0.$where"),
            ]
        else:
            bodies = [
                ({"$where": "1"}, "body.$where"),
                ({"rule": {"when": {"$where": "1"}}}, "body.rule.when.$where"),
                ({"a.b": 1}, "body.a.b"),
            ]
            for name in route.body().fields if route.body else ():
                bodies += [({name: op}, f"body.{name}.{next(iter(op))}") for op in OPERATORS]
        out += [(route, path, body, field) for body, field in bodies]
    return out


def test_operators_are_refused_in_every_input_and_change_nothing(gateway, mongo_client, db_prefix):  # noqa: F811
    case_id, _ = seed_cases(gateway)
    settle(gateway)
    assert gateway.rpc.cases.get_case(case_id)["_id"] == case_id  # a real id still works
    alert_id = gateway.rpc.alerts.list_alerts()[0]["_id"]
    session = gateway.login("admin")
    csrf = csrf_of(session.get(gateway.url + "/cases").text)
    before = snapshot(mongo_client, db_prefix)

    rpc_count, unnamed = rpc_refusals(gateway.rpc)
    assert unnamed == []
    assert rpc_count > 250

    def send(attack):
        route, path, body, field = attack
        if route.kind == "api":
            kwargs = {"json": body} if body is not None else {}
            return attack, gateway.api("admin", route.method, path, **kwargs)
        data = {"csrf_token": csrf} if route.method == "POST" else None  # past the CSRF check
        return attack, session.request(route.method, gateway.url + path, data=data, allow_redirects=False)

    good = {"case_id": case_id, "alert_id": alert_id, "customer_id": "C42", "rule_id": "refund"}
    template = {"language": "en", "template": "alert_raised.subject.j2"}
    attacks, problems = http_attacks({**good, **template, "name": "console.js"}), []
    with config.patch({"GATEWAY_RATE_PER_MINUTE": 0}):  # hundreds of calls from one client
        for (route, path, _, field), response in eventlet.GreenPool(8).imap(send, attacks):
            if response.status_code != 400:
                problems.append(f"{route.name} {path} {field}: {response.status_code} {response.text[:120]}")
            elif route.kind == "api" and field not in refused_fields(response):
                problems.append(f"{route.name}: {field} not named in {response.text[:200]}")
            elif route.kind == "page" and field not in response.text:
                problems.append(f"{route.name}: {field} not named on the page")
    assert problems == []
    assert len(attacks) > 400

    assert snapshot(mongo_client, db_prefix) == before  # nothing matched, nothing changed
    # what the guard stopped: before it, this listed every case (status != null)
    with pytest.raises(RemoteError) as refused:
        gateway.rpc.cases.list_cases(status={"$ne": None})
    assert str(refused.value.value) == "status: must be an id or null, not an object"
