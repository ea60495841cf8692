"""Logging in to the console and out, and the session's language.

The login form's CSRF token is a signed double-submit pair
(gate.login_form_token): an anonymous visit stores nothing. A password is
checked only when the client is not being slowed down (throttle.LoginThrottle:
429 with Retry-After). A successful login opens a fresh session (no session
fixation: one held before is closed) and sets its cookie.
"""

from __future__ import annotations

from functools import cache
from urllib.parse import urlsplit

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from contracts.base import utcnow
from services.common import settings
from services.gateway import auth, gate
from services.gateway.errors import bad_request
from services.gateway.i18n import language_of
from services.gateway.people_logins import may_sign_in
from services.gateway.routes import PEOPLE, ROUTES
from services.gateway.throttle import LoginThrottle
from services.gateway.views import render

MAX_USERNAME = 128
MAX_PASSWORD = 1024


def login_page(store, request, status=200, message=None, username="", next_url="", retry_after=None):
    """The login form; the language comes from ``lang`` (query or form)."""
    token, cookie = gate.login_form_token(store, request, utcnow())
    visitor = gate.Principal(None, "none", form_token=token, form_language=request.values.get("lang"))
    response = render(
        "login.html",
        visitor,
        status=status,
        message=message,
        username=username,
        next=gate.safe_next(next_url),
        retry_after=retry_after,
    )
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    if cookie:
        response.set_cookie(
            gate.LOGIN_COOKIE,
            cookie,
            max_age=gate.LOGIN_FORM_TTL,
            httponly=True,
            secure=settings.get("GATEWAY_COOKIE_SECURE"),
            samesite="Strict",
            path="/login",
        )
    return response


def log_in(store, request, principal):
    """Check the password unless this client is being slowed down; 303 to ``next`` with a
    new session, or the form again (401 / 429)."""
    username = request.form.get("username", "")[:MAX_USERNAME]
    password = request.form.get("password", "")[:MAX_PASSWORD]
    next_url = request.form.get("next", "")
    now = utcnow()
    throttle = LoginThrottle(store, username, request.remote_addr or "")
    wait = throttle.admit(now)
    if wait:
        return login_page(store, request, 429, "login.rate_limited", username, next_url, retry_after=wait)
    user = store.get_user(username)
    # a person the people directory says may not sign in fails like a wrong password
    signs_in = user and user.get("role") in PEOPLE and may_sign_in(user)
    stored = user.get("password_hash") if signs_in else None
    if not auth.verify_password(stored, password):
        return login_page(store, request, 401, "login.failed", username, next_url)
    throttle.succeeded()
    if auth.needs_rehash(stored):
        store.set_password_hash(user["_id"], auth.hash_password(password))
    # A fresh session id on login (no session fixation); a session held before is dropped.
    if principal.session:
        store.close_session(principal.session["_id"])
    sid, _ = store.open_session(
        user["_id"], user.get("language", "zh-CN"), now, settings.get("GATEWAY_SESSION_TTL")
    )
    response = Response("", status=303, headers={"Location": gate.safe_next(next_url)})
    set_session_cookie(response, sid)
    response.delete_cookie(gate.LOGIN_COOKIE, path="/login")
    return response


def set_session_cookie(response, sid: str) -> None:
    response.set_cookie(
        gate.SESSION_COOKIE,
        sid,
        max_age=int(settings.get("GATEWAY_SESSION_TTL")),
        httponly=True,
        secure=settings.get("GATEWAY_COOKIE_SECURE"),
        samesite="Lax",
        path="/",
    )


def log_out(store, principal):
    """Close the session and drop its cookie; 303 to the login page."""
    store.close_session(principal.session["_id"])
    response = Response("", status=303, headers={"Location": "/login"})
    response.delete_cookie(gate.SESSION_COOKIE, path="/")
    return response


def switch_language(store, request, principal):
    """The session's language (zh-CN or en); 303 back to the page the form was on."""
    chosen = request.form.get("language")
    if chosen != language_of(chosen):
        raise bad_request(["language: must be zh-CN or en"])
    store.set_session_language(principal.session["_id"], chosen)
    back = urlsplit(request.referrer or "")
    path = page_to_show_again(back.path)
    target = path + (f"?{back.query}" if back.query and path == back.path else "")
    return Response("", status=303, headers={"Location": gate.safe_next(target)})


@cache
def _pages() -> Map:
    return Map(
        [Rule(r.path, methods=["GET"]) for r in ROUTES if r.kind == "page" and r.method == "GET"],
        strict_slashes=False,
    )


def page_to_show_again(path: str) -> str:
    """``path`` when it is a page the browser can load again (GET), else the nearest page
    above it: a form's answer (``/templates/<name>/preview``, ``/cases/<id>/assign``)
    is shown by a POST, and reloading it in the other language would be a 405."""
    adapter = _pages().bind("console")
    while path and path != "/":
        try:
            adapter.match(path, method="GET")
            return path
        except HTTPException:
            path = path.rsplit("/", 1)[0]
    return "/"
