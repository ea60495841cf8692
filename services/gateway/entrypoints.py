"""The gateway's Nameko HTTP entrypoint: one per Route, authentication first.

``@route("cases.list")`` takes method and path from the route table and,
before a worker is spawned, checks the body's declared size
(``HTTP_MAX_BODY_BYTES``: 413), the caller (gate.authenticate), their request
rate (throttle.py: 429 with Retry-After), the query string's names and values
and a JSON body's keys (400 naming the field; docs/security.md); it hands the
handler ``(request, principal, **path_values)`` and turns results and errors
into JSON (API) or HTML (console) responses.
"""

from __future__ import annotations

import json
import logging
from functools import cache, partial, wraps

from eventlet.event import Event
from marshmallow import ValidationError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Response

from contracts.base import key_errors, utcnow
from services.common import settings
from services.common.mongo import MongoStore
from services.gateway import gate
from services.gateway.errors import HttpError, Redirect, bad_request, field_errors, reason_lines
from services.gateway.i18n import DEFAULT_LANGUAGE
from services.gateway.routes import BY_NAME, PathValues, Route
from services.gateway.server import GatewayWebServer, error_answer, json_response
from services.gateway.throttle import ClientLimits

log = logging.getLogger(__name__)


def http_error_from(exc: Exception) -> HttpError | None:
    """Map a backend failure onto an HTTP status; None for a bug (500)."""
    if isinstance(exc, HttpError):
        return exc
    if isinstance(exc, RemoteError):
        if exc.exc_type == "NotFound":
            return HttpError(404, str(exc.value))
        if exc.exc_type == "Conflict":  # for the case actions to come (a stale transition)
            return HttpError(409, str(exc.value))
        if exc.exc_type == "BadRequest":
            return HttpError(400, "invalid request", field_errors(reason_lines(str(exc.value))))
        return None
    if isinstance(exc, (RpcTimeout, UnknownService)):
        return HttpError(503, "a backend service did not answer")
    return None


def path_values(request) -> dict:
    try:
        return PathValues().load(dict(request.path_values))
    except ValidationError as exc:
        raise bad_request(exc, "path") from None


@cache
def query_fields(route: Route) -> frozenset[str]:
    return frozenset(route.query().fields)


def query_names(request, route: Route) -> None:
    """Every route, before its handler: a query parameter the route does not declare
    (``customer_id[$gt]``) or a value starting with ``$`` (an operator, a field path)
    is a 400 naming ``query.<parameter>``."""
    errors = []
    for key, values in request.args.lists():
        if key not in query_fields(route):
            errors.append(f"{key}: Unknown field.")
        elif any(value.startswith("$") for value in values):
            errors.append(f"{key}: must not start with '$'")
    if errors:
        raise bad_request(errors, "query")


def json_document(request, route: Route) -> None:
    """API routes: a JSON body is parsed once, here, before any handler (which reads it
    from ``environ["cx.json"]``). Invalid JSON, and object keys starting with ``$`` or
    holding ``.`` at any depth (an operator, a path into another field), are a 400
    naming the field (``body.rule.when.$where``), whether or not the route reads a body.
    """
    if route.kind != "api" or not request.content_length or request.mimetype != "application/json":
        return
    try:
        document = json.loads(request.get_data(cache=False) or b"null", parse_constant=_not_a_number)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request([f"body: invalid JSON: {exc}"]) from None
    except RecursionError:
        raise bad_request(["body: invalid JSON: nested too deeply"]) from None
    problems = [] if route.keys_checked_per_item else key_errors(document)
    if problems:
        raise bad_request(problems, "body")
    request.environ["cx.json"] = document


def _not_a_number(name: str):
    raise ValueError(f"{name} is not a JSON number")


def body_limit(request) -> None:
    """413 for a body declared larger than HTTP_MAX_BODY_BYTES; reading stops there too."""
    limit = settings.get("HTTP_MAX_BODY_BYTES")
    request.max_content_length = limit  # werkzeug enforces it while parsing forms
    if (request.content_length or 0) > limit:
        raise HttpError(413, f"request body larger than {limit} bytes (HTTP_MAX_BODY_BYTES)")


def too_many(seconds: int) -> HttpError:
    return HttpError(429, f"too many requests; retry in {seconds} s", headers={"Retry-After": str(seconds)})


class RouteEntrypoint(HttpRequestHandler):
    server = GatewayWebServer()
    limits = ClientLimits()

    def __init__(self, route_name: str, **kwargs):
        self.route = BY_NAME[route_name]
        kwargs.setdefault("expected_exceptions", (HttpError, Redirect, RemoteError))
        super().__init__(self.route.method, self.route.path, **kwargs)

    @property
    def store(self):
        return next(d for d in self.container.dependencies if isinstance(d, MongoStore)).store

    def handle_request(self, request):
        request.shallow = False
        request.environ["cx.language"] = DEFAULT_LANGUAGE
        request.environ["cx.route"] = self.route.name
        try:
            principal = self.admit(request)
            request.environ["cx.language"] = principal.language
            args, kwargs = (request, principal), path_values(request)
            self.check_signature(args, kwargs)
            event = Event()
            self.container.spawn_worker(
                self, args, kwargs, context_data={}, handle_result=partial(self.handle_result, event)
            )
            response = self.response_from_result(event.wait())
        except Exception as exc:
            response = self.response_from_exception(exc, request)
        return response  # the server adds the security headers (server.py)

    def admit(self, request) -> gate.Principal:
        """The authenticated caller, within their rate, with a body of allowed size and
        no operator in the query string or the JSON body's keys."""
        body_limit(request)  # first: the CSRF check of a form reads the body
        try:
            principal = gate.authenticate(self.store, request, self.route, utcnow())
        except (HttpError, Redirect):
            wait = self.limits.wait(f"ip:{request.remote_addr}")  # failed attempts count too
            if wait:
                raise too_many(wait) from None
            raise
        client = f"user:{principal.user['id']}" if principal.user else f"ip:{request.remote_addr}"
        wait = self.limits.wait(client)
        if wait:
            raise too_many(wait)
        query_names(request, self.route)
        json_document(request, self.route)
        return principal

    def response_from_result(self, result):
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple):
            status, payload = result
            return json_response(payload, status)
        return json_response(result)

    def response_from_exception(self, exc, request=None):
        return error_response(self.route, exc, request)


def error_response(route: Route, exc: Exception, request=None) -> Response:
    if isinstance(exc, Redirect):
        return Response("", status=303, headers={"Location": exc.location})
    error = http_error_from(exc)
    if error is None:
        log.error("%s failed", route.name, exc_info=exc)
        error = HttpError(500, "internal error")
    language = request.environ.get("cx.language", DEFAULT_LANGUAGE) if request else DEFAULT_LANGUAGE
    return error_answer(error, route.kind == "api", language)


def route(*route_names: str):
    """Make a service method the handler of one or more Routes of the table.

    Expected failures (HttpError, Redirect, a backend's NotFound/BadRequest,
    a timeout) become responses inside the worker, so the worker ends cleanly
    and the log is not filled with tracebacks of every 4xx. A handler of
    several routes finds which one it serves in ``route_of(request)``.
    """

    def decorate(method):
        @wraps(method)
        def handler(self, request, principal, **path):
            try:
                return method(self, request, principal, **path)
            except Exception as exc:
                if http_error_from(exc) is None and not isinstance(exc, Redirect):
                    raise
                return error_response(route_of(request), exc, request)

        for name in route_names:
            handler = RouteEntrypoint.decorator(name)(handler)
        return handler

    return decorate


def route_of(request) -> Route:
    """The table's Route this request came in on."""
    return BY_NAME[request.environ["cx.route"]]
