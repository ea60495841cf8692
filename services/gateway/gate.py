"""Who is calling, and may they use this route? Runs before any handler.

* API routes accept ``Authorization: Bearer <token>`` or a console session
  cookie; with a session, unsafe methods also need ``X-CSRF-Token``.
* Console pages accept the session cookie only (an API token never opens the
  console), and every form posts the session's synchronizer token.
* The role check reads ``Route.roles`` from the one table in routes.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from services.gateway import auth
from services.gateway.errors import HttpError, Redirect
from services.gateway.i18n import language_of
from services.gateway.routes import Route
from services.gateway.store import GatewayStore, public_user

SESSION_COOKIE = "cx_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass
class Principal:
    user: dict | None  # public_user(); None on the login page before logging in
    via: str  # token | session | none
    session: dict | None = None

    @property
    def role(self) -> str | None:
        return self.user["role"] if self.user else None

    @property
    def language(self) -> str:
        if self.session:
            return language_of(self.session.get("language"))
        return language_of(self.user.get("language") if self.user else None)

    @property
    def csrf(self) -> str:
        return self.session["csrf"] if self.session else ""


def bearer_token(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticate(store: GatewayStore, request, route: Route, now: datetime) -> Principal:
    """Return the caller or raise HttpError(401/403) / Redirect(login)."""
    session = None
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        session = store.get_session(sid, now)
    principal = None
    token = bearer_token(request) if route.kind == "api" else None
    if token:
        user = store.user_for_token(token)
        if user is None:
            raise HttpError(401, "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        principal = Principal(public_user(user), "token")
    elif session and session["user_id"]:
        user = store.get_user(session["user_id"])
        if user is not None:
            principal = Principal(public_user(user), "session", session)
    if principal is None:
        if route.public:
            if request.method not in SAFE_METHODS:
                check_csrf(request, session, route)
            return Principal(None, "none", session)
        if route.kind == "page":
            raise Redirect("/login?next=" + _quote_next(request))
        raise HttpError(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    if principal.role not in route.roles:
        raise HttpError(403, f"role {principal.role} may not use {route.name}")
    if principal.via == "session" and request.method not in SAFE_METHODS:
        check_csrf(request, principal.session, route)
    return principal


def check_csrf(request, session: dict | None, route: Route) -> None:
    sent = request.headers.get(CSRF_HEADER) if route.kind == "api" else request.form.get(CSRF_FIELD)
    if session is None or not auth.same(sent, session.get("csrf")):
        raise HttpError(403, "missing or wrong CSRF token")


def _quote_next(request) -> str:
    return quote(request.full_path.rstrip("?"), safe="")


def safe_next(value: str | None) -> str:
    """Only same-site paths after login (no open redirect)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/cases"
