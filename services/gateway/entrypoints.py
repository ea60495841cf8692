"""The gateway's Nameko HTTP entrypoint: one per Route, authentication first.

``@route("cases.list")`` takes method and path from the route table, checks
the caller (gate.authenticate) before a worker is spawned, hands the handler
``(request, principal, **path_values)``, and turns results and errors into
JSON (API) or HTML (console) responses.
"""

from __future__ import annotations

import json
import logging
from functools import partial, wraps

from eventlet.event import Event
from marshmallow import ValidationError
from nameko.exceptions import RemoteError, RpcTimeout, UnknownService
from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Response

from contracts.base import utcnow
from services.common.mongo import MongoStore
from services.gateway import gate
from services.gateway.errors import HttpError, Redirect, bad_request, field_errors, reason_lines
from services.gateway.i18n import DEFAULT_LANGUAGE
from services.gateway.routes import BY_NAME, PathValues, Route

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'",
}


def json_response(data, status: int = 200, headers=None) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False, default=str),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


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


class RouteEntrypoint(HttpRequestHandler):
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
            principal = gate.authenticate(self.store, request, self.route, utcnow())
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
        response.headers.extend({k: v for k, v in SECURITY_HEADERS.items() if k not in response.headers})
        return response

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
    if route.kind == "api":
        return json_response(error.body(), error.status, error.headers)
    from services.gateway.views import error_page

    language = request.environ.get("cx.language", DEFAULT_LANGUAGE) if request else DEFAULT_LANGUAGE
    return error_page(error, language)


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
