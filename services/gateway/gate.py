"""Who is calling, and may they use this route? Runs before any handler.

* API routes accept ``Authorization: Bearer <token>`` or a console session
  cookie; with a session, unsafe methods also need ``X-CSRF-Token``.
* Console pages accept the session cookie only (an API token never opens the
  console), and every form posts the session's synchronizer token, except the
  login form: before a session exists it posts a signed double-submit token
  (``cx_login`` cookie + HMAC in the form, auth.py), so an anonymous visit
  stores nothing.
* The role check reads ``Route.roles`` from the one table in routes.py.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, unquote, urlsplit

from services.gateway import auth
from services.gateway.errors import HttpError, Redirect
from services.gateway.i18n import language_of
from services.gateway.people_logins import may_sign_in
from services.gateway.routes import Route
from services.gateway.store import GatewayStore, public_user

SESSION_COOKIE = "cx_session"
LOGIN_COOKIE = "cx_login"  # the login form's double-submit half (path /login)
LOGIN_FORM_TTL = 1800  # seconds a login form stays valid
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DEFAULT_NEXT = "/cases"
MAX_NEXT = 2000
# Kept as they are in a login's ``next``: RFC 3986's path, query and fragment characters
# and "%" of an escape already made (quote keeps letters, digits and "_.-~" anyway).
URL_CHARACTERS = "/?#%:@!$&'()*+,;="


@dataclass
class Principal:
    user: dict | None  # public_user(); None on the login page before logging in
    via: str  # token | session | none
    session: dict | None = None
    # the login page before logging in: its form's token and language (nothing stored)
    form_token: str = ""
    form_language: str | None = None

    @property
    def role(self) -> str | None:
        return self.user["role"] if self.user else None

    @property
    def language(self) -> str:
        if self.session:
            return language_of(self.session.get("language"))
        return language_of(self.user.get("language") if self.user else self.form_language)

    @property
    def csrf(self) -> str:
        return self.session["csrf"] if self.session else self.form_token


def bearer_token(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def authenticate(store: GatewayStore, request, route: Route, now: datetime) -> Principal:
    """Return the caller or raise HttpError(401/403) / Redirect(login)."""
    if route.own_credential:  # the survey: its signed link is checked by the handler
        return Principal(None, "link")
    session = None
    sid = request.cookies.get(SESSION_COOKIE)
    if sid:
        session = store.get_session(sid, now)
    principal = None
    token = bearer_token(request) if route.kind == "api" else None
    if token:
        user = store.user_for_token(token)
        if user is None or not may_sign_in(user):  # a token outlives no directory change
            raise HttpError(401, "unknown or revoked API token", headers={"WWW-Authenticate": "Bearer"})
        principal = Principal(public_user(user), "token")
    elif session and session["user_id"]:
        user = store.get_user(session["user_id"])
        if user is not None and may_sign_in(user):  # barred or dropped in the people directory: signed out
            principal = Principal(public_user(user), "session", session)
    if route.public and request.method not in SAFE_METHODS:
        # the login form carries its own token; a signed-in user's session token does too
        held = principal.session if principal is not None and principal.via == "session" else None
        if not (held and auth.same(request.form.get(CSRF_FIELD), held.get("csrf"))):
            check_login_form(store, request, now)
    if principal is None:
        if route.public:
            return Principal(None, "none")
        if route.kind == "page":
            raise Redirect("/login?next=" + _quote_next(request))
        raise HttpError(401, "authentication required", headers={"WWW-Authenticate": "Bearer"})
    if principal.role not in route.roles:
        raise HttpError(403, f"role {principal.role} may not use {route.name}")
    if principal.via == "session" and request.method not in SAFE_METHODS and not route.public:
        check_csrf(request, principal.session, route)
    return principal


def check_csrf(request, session: dict | None, route: Route) -> None:
    sent = request.headers.get(CSRF_HEADER) if route.kind == "api" else request.form.get(CSRF_FIELD)
    if not auth.same(sent, (session or {}).get("csrf")):  # no session: refused
        raise HttpError(403, "missing or wrong CSRF token")


def login_form_token(store: GatewayStore, request, now: datetime) -> tuple[str, str | None]:
    """The login form's token, and the cookie to set for it (None: the browser's own is
    kept; it stays while valid for at least half its life, so several open tabs work)."""
    cookie = request.cookies.get(LOGIN_COOKIE)
    fresh = None
    if not auth.form_cookie_valid(cookie, now.timestamp() + LOGIN_FORM_TTL / 2):
        cookie = fresh = auth.new_form_cookie(now.timestamp(), LOGIN_FORM_TTL)
    return auth.form_token(store.form_key(), cookie), fresh


def check_login_form(store: GatewayStore, request, now: datetime) -> None:
    """The signed double-submit check of the login form (auth.py): no session is needed."""
    cookie, sent = request.cookies.get(LOGIN_COOKIE), request.form.get(CSRF_FIELD)
    if not auth.form_token_valid(store.form_key(), cookie, sent, now.timestamp()):
        raise HttpError(403, "missing or wrong CSRF token")


def _quote_next(request) -> str:
    """The page asked for, as the login's ``next`` parameter (werkzeug decoded the path:
    encode it again, so that a space or a non-ASCII id comes back as it was sent)."""
    target = quote(request.path).encode("ascii")
    if request.query_string:
        target += b"?" + request.query_string
    return quote(target, safe="")


def safe_next(value) -> str:
    """Where to go after logging in: a path of this site, normalised, else ``DEFAULT_NEXT``.

    Refused: anything but a string starting with "/"; a backslash, or a control,
    format or whitespace character anywhere (browsers drop tabs and newlines from a
    URL, so ``next=/%09/evil.example`` is "//evil.example", and a newline cannot be sent in a
    header); a "." or ".." segment, also escaped ("/%2e%2e//evil.example" resolves to
    "//evil.example"); a scheme or an authority. Other non-ASCII characters are
    percent-encoded (UTF-8), so the answer is printable ASCII and passes through
    this function unchanged.
    """
    if not isinstance(value, str) or not value.startswith("/") or "\\" in value:
        return DEFAULT_NEXT
    if any(c.isspace() or unicodedata.category(c)[0] in "CZ" for c in value):
        return DEFAULT_NEXT
    target = quote(value, safe=URL_CHARACTERS)
    parts = urlsplit(target)
    if len(target) > MAX_NEXT or target.startswith("//") or parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
        return DEFAULT_NEXT
    return target
