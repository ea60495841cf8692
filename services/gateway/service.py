"""Gateway service: the HTTP API (/api/v1) and the agent console.

No domain logic here: each handler validates input, relies on the route
table for authentication and roles (entrypoints.route), calls the services
over RPC and renders JSON or a page.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, urlsplit

from marshmallow import ValidationError
from nameko.exceptions import RemoteError
from nameko.rpc import ClusterRpc
from werkzeug.wrappers import Response

from contracts.base import unstorable, utcnow
from contracts.feedback import InvalidFeedback, parse_feedback
from services.common import settings
from services.common.errors import BadRequest, NotFound
from services.common.health import HealthServer
from services.common.mongo import MongoStore
from services.common.privacy import MaskedLogs
from services.common.rpc import PAGE_MAX, Id, rpc
from services.gateway import auth, dashboard, gate, urgency
from services.gateway.actions import ACTIONS, available, body_from_form, load_body, refused, root_causes
from services.gateway.dependencies import FeedbackPublisher
from services.gateway.entrypoints import http_error_from, route, route_of
from services.gateway.errors import HttpError, Redirect, bad_request, field_errors, reason_lines
from services.gateway.i18n import language_of, translator
from services.gateway.openapi import build_openapi
from services.gateway.pagination import next_link, page, scan
from services.gateway.routes import BREACH_STATES, BY_NAME, CASE_STATUSES, PEOPLE
from services.gateway.rule_editor import document_text, load_dry_run, parse_document
from services.gateway.scope import in_scope, named_cases, only_cases, viewer
from services.gateway.store import GatewayStore
from services.gateway.throttle import LoginThrottle
from services.gateway.users import load_user
from services.gateway.views import render

STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css"}
MAX_BATCH = 500


def query(request, route_name: str) -> dict:
    """The route's query schema applied to the query string (unknown keys → 400)."""
    schema = BY_NAME[route_name].query()
    raw = {}
    for key, values in request.args.lists():
        if len(values) > 1:
            raise bad_request([f"{key}: give this parameter once"], "query")
        raw[key] = values[0]
    if BY_NAME[route_name].kind == "page":
        # An empty form field means "any" in the console's filters (the API has no such case).
        raw = {k: v for k, v in raw.items() if v != "" or k not in schema.fields}
    try:
        return schema.load(raw)
    except ValidationError as exc:
        raise bad_request(exc, "query") from None


def json_body(request, allow_empty: bool = False, storable: bool = True):
    """The request's JSON document, parsed and key-checked before the handler ran
    (entrypoints.json_document; the size limit, 413, applies there too); 411 for a
    chunked body, 415 for another content type; with ``allow_empty``, no body at
    all reads as ``{}``. With ``storable``, a document the services could not pass
    on or store (contracts.base.unstorable: an unpaired surrogate, a NUL in a key,
    a 65-bit integer, deep nesting) is a 400 naming the field; feedback ingestion
    checks each event on its own instead."""
    if request.content_length is None and request.headers.get("Transfer-Encoding"):
        # werkzeug reads a body without a length as empty: say so rather than "invalid"
        raise HttpError(411, "send the body with a Content-Length (chunked bodies are not read)")
    if allow_empty and not request.content_length:
        return {}
    if request.mimetype != "application/json":
        raise HttpError(415, "send application/json")
    document = request.environ.get("cx.json")
    problems = unstorable(document, "body") if storable else []
    if problems:
        raise HttpError(400, "invalid request", [{"field": f, "message": m} for f, m in problems])
    return document


def rule_document(request) -> dict:
    """A rule's JSON body; the alerts service validates its fields."""
    document = json_body(request)
    if not isinstance(document, dict):
        raise bad_request(["body: a rule is a JSON object (id, name, level, owner, channels, when, ...)"])
    return document


def annotated(data: dict) -> dict:
    """A page of cases with each one's SLA ``deadline`` and ``missed`` flag (the countdowns)."""
    return {**data, "items": [urgency.annotate(c) for c in data["items"]]}


def rejected(reason: str) -> list[dict]:
    lines = reason_lines(reason.removeprefix("schema: ")) if reason.startswith("schema: ") else [reason]
    return field_errors(lines) if reason.startswith("schema: ") else [{"field": "_schema", "message": reason}]


class GatewayService:
    name = "gateway"
    health = HealthServer()  # /livez, /readyz when HEALTH_PORT is set
    masked_logs = MaskedLogs()  # phones, emails, secrets masked in every log record

    store: GatewayStore = MongoStore(GatewayStore)
    services = ClusterRpc()
    publish_feedback = FeedbackPublisher()

    # ------------------------------------------------------------------ API
    @route("feedback.ingest")
    def ingest_feedback(self, request, principal):
        """One event (an object) or a batch (an array); each item validated and published alone."""
        document = json_body(request, storable=False)  # parse_feedback checks each event
        batch = isinstance(document, list)
        items = document if batch else [document]
        if batch and not 1 <= len(items) <= MAX_BATCH:
            raise bad_request([f"body: a batch holds 1 to {MAX_BATCH} events"])
        results = []
        for index, item in enumerate(items):
            result = {"index": index}
            try:
                if not isinstance(item, dict):
                    raise InvalidFeedback("each event must be a JSON object")
                event = parse_feedback(item)
            except InvalidFeedback as exc:
                results.append({**result, "status": "rejected", "errors": rejected(exc.reason)})
                continue
            self.publish_feedback(item, event["channel"])
            results.append(
                {**result, "status": "accepted", "source": event["source"], "event_id": event["event_id"]}
            )
        if not batch and results[0]["status"] == "rejected":
            raise HttpError(400, "invalid feedback event", results[0]["errors"])
        accepted = sum(r["status"] == "accepted" for r in results)
        return 202, {"accepted": accepted, "rejected": len(results) - accepted, "results": results}

    @route("alerts.list")
    def list_alerts(self, request, principal):
        q = query(request, "alerts.list")
        rows = self.services.alerts.list_alerts(
            limit=q["limit"] + 1, skip=q["offset"], level=q.get("level"), customer_id=q.get("customer_id")
        )
        return page(request, rows, q["limit"], q["offset"])

    @route("alerts.get")
    def get_alert(self, request, principal, alert_id):
        return self.services.alerts.get_alert(alert_id)

    @route("rules.list")
    def list_rules(self, request, principal):
        return self._rules_page(request, "rules.list")

    def _rules_page(self, request, route_name):
        q = query(request, route_name)
        rules = self.services.alerts.list_rules()
        return page(request, rules[q["offset"] : q["offset"] + q["limit"] + 1], q["limit"], q["offset"])

    @route("rules.get")
    def get_rule(self, request, principal, rule_id):
        return self.services.alerts.get_rule(rule_id)

    @route("rules.create")
    def create_rule(self, request, principal):
        return 201, self.services.alerts.create_rule(rule_document(request), actor=principal.user["id"])

    @route("rules.update")
    def update_rule(self, request, principal, rule_id):
        return self.services.alerts.update_rule(rule_id, rule_document(request), actor=principal.user["id"])

    @route("rules.enable", "rules.disable")
    def enable_rule(self, request, principal, rule_id):
        enabled = route_of(request).name == "rules.enable"
        return self.services.alerts.set_rule_enabled(rule_id, enabled, actor=principal.user["id"])

    @route("rules.backtest")
    def backtest(self, request, principal):
        return self._backtest(load_dry_run(json_body(request)))

    def _backtest(self, body: dict) -> dict:
        return self.services.alerts.backtest(
            body["rule"], body["since"], until=body["until"], examples=body["examples"]
        )

    @route("cases.list")
    def list_cases(self, request, principal):
        return self._cases_page(request, principal, "cases.list")

    def _cases_page(self, request, principal, route_name):
        """A page of the cases the caller may see (the cases service applies
        ``visible_to``); the mine / team / unassigned filters narrow it here."""
        q = query(request, route_name)
        user, scope = principal.user, q["scope"]
        filters = {
            "level": q.get("level"),
            "status": q.get("status"),
            "breach": q.get("breach"),
            "touchpoint": q.get("touchpoint"),
            "visible_to": viewer(user),
        }
        if scope == "mine":
            filters["assignee"] = user["id"]
        elif scope == "team" and len(user["teams"]) == 1:
            filters["assignee"] = user["teams"][0]
        elif scope == "team" and not user["teams"]:
            return {"items": [], "limit": q["limit"], "offset": q["offset"], "next": None}

        def fetch(skip, n):
            return self.services.cases.list_cases(limit=n, skip=skip, **filters)

        if q["sort"] == "urgency":
            rows = [c for c in fetch(0, urgency.WINDOW) if in_scope(user, scope, c)]
            window = urgency.by_urgency(rows)[q["offset"] : q["offset"] + q["limit"] + 1]
            return annotated(page(request, window, q["limit"], q["offset"]))
        if scope == "all":
            return annotated(page(request, fetch(q["offset"], q["limit"] + 1), q["limit"], q["offset"]))
        rows, after = scan(fetch, lambda case: in_scope(user, scope, case), q["limit"], q["offset"])
        return {
            "items": [urgency.annotate(c) for c in rows],
            "limit": q["limit"],
            "offset": q["offset"],
            "next": next_link(request, after) if after is not None else None,
        }

    @route("cases.get")
    def get_case(self, request, principal, case_id):
        return self._visible_case(principal, case_id)

    def _visible_case(self, principal, case_id):
        # NotFound (404) for a case the caller may not see: an agent does not
        # learn which other cases exist
        return self.services.cases.get_case(case_id, visible_to=viewer(principal.user))

    @route(*(f"cases.{action}" for action in ACTIONS))
    def case_action(self, request, principal, case_id):
        """``POST /api/v1/cases/<id>/<action>``: see services/gateway/actions.py."""
        action = route_of(request).name.removeprefix("cases.")
        body = load_body(action, json_body(request, allow_empty=True))
        return self._act(principal, case_id, action, body)

    def _act(self, principal, case_id: str, action: str, body: dict) -> dict:
        self._visible_case(principal, case_id)  # 404 for a case the agent may not see
        request = {**body, "case_id": case_id, "by": principal.user["id"]}
        try:
            return getattr(self.services.cases, action)(request)
        except RemoteError as exc:
            error = refused(exc)
            if error is None:
                raise
            raise error from None

    @route("profiles.search")
    def search_profiles(self, request, principal):
        return self._search(request, principal, "profiles.search")

    def _search(self, request, principal, route_name) -> dict:
        q = query(request, route_name)
        keys = {k: q[k] for k in ("name", "phone", "email") if q.get(k)}
        if not keys:
            return {"items": [], "limit": q["limit"], "offset": q["offset"], "next": None}
        rows = self.services.profiles.search_profiles(limit=q["limit"] + 1, skip=q["offset"], **keys)
        return page(request, [self._scoped(principal, p) for p in rows], q["limit"], q["offset"])

    @route("profiles.get")
    def get_profile(self, request, principal, customer_id):
        q = query(request, "profiles.get")
        profile = self.services.profiles.get_profile(customer_id, timeline_limit=q["timeline_limit"])
        return self._scoped(principal, profile)

    def _scoped(self, principal, profile: dict) -> dict:
        """The profile naming only the cases the caller may open (scope.py): the customer's
        cases the cases service shows to ``visible_to``, read until every case the profile
        names is found or the list ends."""
        named = named_cases(profile)
        if not named:
            return profile
        visible: set[str] = set()
        for customer in (profile["_id"], *profile.get("merged_ids", ())):
            skip = 0
            while not named <= visible:
                rows = self.services.cases.list_cases(
                    limit=PAGE_MAX, skip=skip, customer=customer, visible_to=viewer(principal.user)
                )
                visible |= {c["_id"] for c in rows}
                if len(rows) < PAGE_MAX:
                    break
                skip += len(rows)
        return only_cases(profile, visible)

    @route("deliveries.list")
    def list_deliveries(self, request, principal):
        q = query(request, "deliveries.list")
        rows = self.services.notify.list_deliveries(
            limit=q["limit"] + 1, skip=q["offset"], status=q.get("status")
        )
        return page(request, rows, q["limit"], q["offset"])

    @route("metrics.get")
    def metrics(self, request, principal):
        return self._metrics(request, "metrics.get")

    def _metrics(self, request, route_name) -> dict:
        q = query(request, route_name)
        until = q.get("until") or utcnow()
        since = q.get("since") or dashboard.default_since(until)
        if until <= since:
            raise bad_request(["until: must be after since"], "query")
        return dashboard.gather(self.services, since, until, q["bucket"])

    @route("stats.get")
    def stats(self, request, principal):
        return {
            name: getattr(self.services, name).stats() for name in ("alerts", "cases", "profiles", "notify")
        }

    @route("me.get")
    def me(self, request, principal):
        return {**principal.user, "via": principal.via}

    @route("openapi.get")
    def openapi(self, request, principal):
        return build_openapi()

    # -------------------------------------------------------------- console
    @route("console.static")
    def static(self, request, principal, name):
        path = STATIC / name
        if name not in {p.name for p in STATIC.iterdir()} or path.suffix not in STATIC_TYPES:
            raise HttpError(404, "no such file")
        # the only answers a browser may keep (revalidated; the others are no-store, server.py)
        response = Response(path.read_bytes(), mimetype=STATIC_TYPES[path.suffix])
        response.headers["Cache-Control"] = "no-cache"
        return response

    @route("console.login_form")
    def login_form(self, request, principal):
        if principal.user:
            raise Redirect(gate.safe_next(request.args.get("next")))
        return self._login_page(request, next_url=request.args.get("next", ""))

    def _login_page(self, request, status=200, message=None, username="", next_url="", retry_after=None):
        """The login form. Its CSRF token is a signed double-submit pair (gate.login_form_token):
        an anonymous visit stores nothing; the language comes from ``lang`` (query or form)."""
        token, cookie = gate.login_form_token(self.store, request, utcnow())
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

    @route("console.login")
    def login(self, request, principal):
        """Check the password unless this client is being slowed down (throttle.LoginThrottle)."""
        username = request.form.get("username", "")[:128]
        password = request.form.get("password", "")[:1024]
        next_url = request.form.get("next", "")
        now = utcnow()
        throttle = LoginThrottle(self.store, username, request.remote_addr or "")
        wait = throttle.admit(now)
        if wait:
            return self._login_page(request, 429, "login.rate_limited", username, next_url, retry_after=wait)
        user = self.store.get_user(username)
        stored = user.get("password_hash") if user and user.get("role") in PEOPLE else None
        if not auth.verify_password(stored, password):
            return self._login_page(request, 401, "login.failed", username, next_url)
        throttle.succeeded()
        if auth.needs_rehash(stored):
            self.store.set_password_hash(user["_id"], auth.hash_password(password))
        # A fresh session id on login (no session fixation); a session held before is dropped.
        if principal.session:
            self.store.close_session(principal.session["_id"])
        sid, _ = self.store.open_session(
            user["_id"], user.get("language", "zh-CN"), now, settings.get("GATEWAY_SESSION_TTL")
        )
        response = Response("", status=303, headers={"Location": gate.safe_next(next_url)})
        self._set_cookie(response, sid)
        response.delete_cookie(gate.LOGIN_COOKIE, path="/login")
        return response

    def _set_cookie(self, response, sid: str) -> None:
        response.set_cookie(
            gate.SESSION_COOKIE,
            sid,
            max_age=int(settings.get("GATEWAY_SESSION_TTL")),
            httponly=True,
            secure=settings.get("GATEWAY_COOKIE_SECURE"),
            samesite="Lax",
            path="/",
        )

    @route("console.logout")
    def logout(self, request, principal):
        self.store.close_session(principal.session["_id"])
        response = Response("", status=303, headers={"Location": "/login"})
        response.delete_cookie(gate.SESSION_COOKIE, path="/")
        return response

    @route("console.language")
    def language(self, request, principal):
        chosen = request.form.get("language")
        if chosen != language_of(chosen):
            raise bad_request(["language: must be zh-CN or en"])
        self.store.set_session_language(principal.session["_id"], chosen)
        back = urlsplit(request.referrer or "")
        target = back.path + (f"?{back.query}" if back.query else "")
        return Response("", status=303, headers={"Location": gate.safe_next(target)})

    @route("console.home")
    def home(self, request, principal):
        raise Redirect("/cases")

    @route("console.queue")
    def queue(self, request, principal):
        data = self._cases_page(request, principal, "console.queue")
        q = query(request, "console.queue")
        return render(
            "queue.html",
            principal,
            page=data,
            next_url=data["next"],
            query=q,
            statuses=CASE_STATUSES,
            breach_states=BREACH_STATES,
        )

    @route("console.case")
    def case(self, request, principal, case_id):
        return self._case_page(principal, case_id)

    def _case_page(self, principal, case_id, status=200, failed=None, error=None):
        case = self._visible_case(principal, case_id)
        profile = self._profile_or_none(case["customer"]["id"], 1)
        if profile is not None:  # the summary the page shows; the profile page lists cases
            profile = {"feedback_count": profile.get("feedback_count"), "latest": profile.get("latest")}
        return render(
            "case.html",
            principal,
            status=status,
            case=urgency.annotate(case),
            profile=profile,
            actions=available(case, principal.role),
            root_causes=root_causes(),
            failed=failed,
            error=error,
        )

    @route(*(f"console.case_{action}" for action in ACTIONS))
    def case_form(self, request, principal, case_id):
        """A case page form: the action, then back to the case (303), or the page with the error."""
        action = route_of(request).name.removeprefix("console.case_")
        try:
            self._act(principal, case_id, action, load_body(action, body_from_form(action, request.form)))
        except HttpError as exc:
            if exc.status == 404:
                raise
            return self._case_page(principal, case_id, exc.status, action, exc)
        raise Redirect(f"/cases/{quote(case_id, safe='')}")

    def _profile_or_none(self, customer_id: str, timeline_limit: int) -> dict | None:
        """The customer's profile, or None while the profiles service has none yet."""
        try:
            return self.services.profiles.get_profile(customer_id, timeline_limit=timeline_limit)
        except Exception as exc:
            error = http_error_from(exc)
            if error is None or error.status != 404:
                raise
            return None

    @route("console.profile")
    def profile(self, request, principal, customer_id):
        q = query(request, "console.profile")
        profile = self._profile_or_none(customer_id, q["timeline_limit"])
        if profile is None:
            return render("profile.html", principal, status=404, customer_id=customer_id, profile=None)
        profile = self._scoped(principal, profile)
        top = sorted((profile.get("alert_counts") or {}).items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        return render("profile.html", principal, customer_id=customer_id, profile=profile, top_alerts=top)

    @route("console.customers")
    def customers(self, request, principal):
        data = self._search(request, principal, "console.customers")
        return render("customers.html", principal, page=data, next_url=data["next"], args=request.args)

    @route("console.rules")
    def rules(self, request, principal):
        data = self._rules_page(request, "console.rules")
        return render("rules.html", principal, page=data, next_url=data["next"])

    @route("console.rule")
    def rule_page(self, request, principal, rule_id):
        found = self.services.alerts.get_rule(rule_id)
        return render(
            "rule.html", principal, found=found, rule=found["rule"], text=document_text(found["rule"])
        )

    @route("console.rule_new", "console.rule_edit")
    def rule_editor(self, request, principal, rule_id=None):
        text = document_text(self.services.alerts.get_rule(rule_id)["rule"]) if rule_id else ""
        return render("rule_edit.html", principal, rule_id=rule_id, text=text)

    @route("console.rule_create", "console.rule_update")
    def rule_save(self, request, principal, rule_id=None):
        """Save the editor's YAML: back to the rule page (303), or the editor with the errors."""
        text = request.form.get("document", "")
        actor = principal.user["id"]
        try:
            document = parse_document(text)
            if rule_id:
                saved = self.services.alerts.update_rule(rule_id, document, actor=actor)
            else:
                saved = self.services.alerts.create_rule(document, actor=actor)
        except Exception as exc:
            error = http_error_from(exc)
            if error is None or error.status != 400:
                raise
            return render("rule_edit.html", principal, 400, rule_id=rule_id, text=text, error=error)
        raise Redirect(f"/rules/{quote(saved['id'], safe='')}")

    @route("console.rule_enabled")
    def rule_enabled(self, request, principal, rule_id):
        enabled = request.form.get("enabled")
        if enabled not in ("true", "false"):
            raise bad_request(["enabled: true or false"])
        self.services.alerts.set_rule_enabled(rule_id, enabled == "true", actor=principal.user["id"])
        raise Redirect(f"/rules/{quote(rule_id, safe='')}")

    @route("console.rule_dry_run")
    def rule_dry_run(self, request, principal):
        """Dry-run the editor's draft (``document``) or a stored rule (``rule_id``)."""
        text, rule_id = request.form.get("document", ""), request.form.get("rule_id", "")
        try:
            rule = parse_document(text) if text.strip() else rule_id
            body = load_dry_run({"rule": rule, "since": request.form.get("since") or "7d"})
            result = self._backtest(body)
        except Exception as exc:
            error = http_error_from(exc)
            if error is None or error.status not in (400, 404):
                raise
            return render("rule_edit.html", principal, error.status, rule_id=rule_id, text=text, error=error)
        return render("rule_edit.html", principal, rule_id=rule_id, text=text, result=result)

    @route("console.dashboard")
    def dashboard_page(self, request, principal):
        figures = self._metrics(request, "console.dashboard")
        charts = dashboard.charts(figures, translator(principal.language))
        return render("dashboard.html", principal, figures=figures, charts=charts)

    # ------------------------------------------- administration (cxctl, AMQP)
    @rpc(expected_exceptions=BadRequest)
    def put_user(self, document: dict) -> dict:
        """Create or replace a user; the password is hashed (argon2id) before it is stored."""
        return self.store.put_user(load_user(document))

    @rpc
    def list_users(self) -> list[dict]:
        return self.store.list_users()

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def issue_token(self, user_id: Id, name: str = "default") -> dict:
        """A new API token for the user; shown once, only its SHA-256 is kept."""
        if not isinstance(name, str) or not 1 <= len(name) <= 64:
            raise BadRequest("name: 1 to 64 characters")
        if self.store.get_user(user_id) is None:
            raise NotFound(f"no user {user_id}")
        return {"user_id": user_id, "name": name, "token": self.store.issue_token(user_id, name)}

    @rpc
    def revoke_tokens(self, user_id: Id, name: str | None = None) -> dict:
        return {"revoked": self.store.revoke_tokens(user_id, name)}
