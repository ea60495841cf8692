"""The gateway's HTTP server: nameko's WebServer, with the gateway's own answers everywhere.

Every answer carries the security headers (CSP, nosniff, frame and referrer
policies) and ``Cache-Control: no-store`` unless it set its own (the console's
static files): answers name customers and cases, and a shared browser or a proxy
must not keep them. Routed requests get their answers from the route's handler
(entrypoints.py); the others get the gateway's instead of werkzeug's and
eventlet's plain English pages: a URL without a route (404), a method the URL
does not take (405, with ``Allow``), a request line over ``MAX_URL_BYTES``
(414). Under ``/api/`` the answer is the API's JSON error, elsewhere a page in
the visitor's language (``Accept-Language``; a line too long to read its headers
gets the default language).
"""

from __future__ import annotations

import json
from typing import cast

from eventlet import wsgi
from nameko.web.server import HttpOnlyProtocol, WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestURITooLarge
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Request, Response

from services.gateway.errors import HttpError
from services.gateway.i18n import DEFAULT_LANGUAGE, LANGUAGES
from services.gateway.views import error_page

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'",
}
# The request line (method, URL, version) as eventlet limits it by default; the server
# reads up to READ_URL_BYTES so that longer URLs get the full 414 answer, headers read.
MAX_URL_BYTES = wsgi.MAX_REQUEST_LINE
READ_URL_BYTES = 8 * MAX_URL_BYTES
MESSAGES = {
    404: "no such URL",
    405: "method not allowed here",
    414: f"URL longer than {MAX_URL_BYTES} bytes",
}


def json_response(data, status: int = 200, headers=None) -> Response:
    return Response(
        json.dumps(data, ensure_ascii=False, default=str),
        status=status,
        headers=headers,
        mimetype="application/json",
    )


def error_answer(error: HttpError, api: bool, language: str) -> Response:
    """An error as the API's JSON or as a console page."""
    if api:
        return json_response(error.body(), error.status, error.headers)
    return error_page(error, language)


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def unrouted(exc: HTTPException, request: Request | None) -> Response:
    """The gateway's answer when no route takes the request."""
    headers = {k: v for k, v in exc.get_headers() if k.lower() not in ("content-type", "content-length")}
    code = cast(int, exc.code)  # routing's exceptions (404, 405, 414) all carry one
    error = HttpError(code, MESSAGES.get(code, exc.name.lower()), headers=headers)
    if request is None:
        return error_answer(error, False, DEFAULT_LANGUAGE)
    language = request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE)
    return error_answer(error, request.path.startswith("/api/"), language)


class GatewayWsgiApp(WsgiApp):
    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)  # as nameko's: the handler unsets it
        try:
            if len(environ.get("RAW_PATH_INFO", "")) + len(environ.get("QUERY_STRING", "")) > MAX_URL_BYTES:
                raise RequestURITooLarge()
            provider, request.path_values = self.url_map.bind_to_environ(environ).match()
            response = provider.handle_request(request)
        except RequestRedirect as exc:  # werkzeug's own (a missing trailing slash)
            response = exc.get_response(environ)
        except (NotFound, MethodNotAllowed, RequestURITooLarge) as exc:
            response = unrouted(exc, request)
        return secure(response)(environ, start_response)


class GatewayProtocol(HttpOnlyProtocol):
    """eventlet's protocol, answering a request line over READ_URL_BYTES with the gateway's
    414 (eventlet's own has no headers) before it closes the connection."""

    def _read_request_line(self):
        line = super()._read_request_line()
        if len(line) < self.server.url_length_limit:
            return line
        response = secure(unrouted(RequestURITooLarge(), None))  # its Content-Length is set
        head = [f"HTTP/1.1 {response.status}", *(f"{k}: {v}" for k, v in response.headers.items())]
        head.append("Connection: close")
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.get_data())
        return ""  # eventlet reads no further and closes the connection


class GatewayWebServer(WebServer):
    def get_wsgi_app(self):
        return GatewayWsgiApp(self)

    def get_wsgi_server(self, sock, wsgi_app, protocol=GatewayProtocol, debug=False):
        server = super().get_wsgi_server(sock, wsgi_app, protocol=GatewayProtocol, debug=debug)
        server.url_length_limit = READ_URL_BYTES
        return server
