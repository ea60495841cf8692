"""Gateway service: the HTTP API (/api/v1) and the agent console.

Entrypoints only. Before a handler runs, its route (routes.py) has checked the
caller, their role and the request (entrypoints.route); the handler reads its
input (inputs.py), calls the module that does the work over RPC or the store,
and returns JSON or a page:

* feedback ingestion: ingest.py;
* cases, the queue, case actions and the case page: cases.py (actions.py:
  action bodies and who may do what);
* customers' profiles, their search and the profile page: profiles.py; an admin's
  merge, export and erase: profile_admin.py;
* alert rules, the editor's save and dry-runs: alert_rules.py (rule_editor.py: YAML);
* the dashboard and its figures: dashboard.py (charts.py: SVG);
* playbooks (标准解决方案): playbooks.py, their routes in playbook_endpoints.py;
* the role boards (mine, team, journey) and their CSV: boards.py, board_endpoints.py;
* logging in and out, the session's language: sessions.py;
* the customer's follow-up survey (no login, a signed link): survey.py;
* administration over RPC (cxctl): the store (store.py) and users.py.
"""

from __future__ import annotations

from urllib.parse import quote

from nameko.rpc import ClusterRpc

from services.common.config_signal import ConfigSignal
from services.common.errors import BadRequest, NotFound
from services.common.health import HealthServer
from services.common.lexicon import LiveLexicon
from services.common.mongo import MongoStore
from services.common.privacy import MaskedLogs
from services.common.rpc import Id, rpc

# the route mixins by module: ``nameko run services.gateway.service`` runs every class with
# entrypoints it finds in this module, so only GatewayService may be one of its names
from services.gateway import (
    alert_rules,
    board_endpoints,
    callback_endpoints,
    cases,
    dashboard,
    dashboard_endpoints,
    followup_endpoints,
    gate,
    incident_pages,
    lexicon_endpoints,
    optout_endpoints,
    people_endpoints,
    playbook_endpoints,
    profile_admin_endpoints,
    profiles,
    queue,
    sessions,
    team_endpoints,
    template_endpoints,
    token_endpoints,
)
from services.gateway.actions import ACTIONS, ResolveIncidentBody, load_body, load_valid_body
from services.gateway.dependencies import FeedbackPublisher, FollowupAnswerPublisher, VendorCallbackSecrets
from services.gateway.entrypoints import route, route_of
from services.gateway.errors import Redirect, bad_request
from services.gateway.ingest import ingest
from services.gateway.inputs import json_body, query, rule_document
from services.gateway.openapi import build_openapi
from services.gateway.pagination import page
from services.gateway.rule_editor import document_text, load_dry_run
from services.gateway.store import GatewayStore
from services.gateway.users import load_user
from services.gateway.views import render, static_asset

BACKENDS = ("alerts", "cases", "profiles", "notify")  # the services whose counters /stats shows


class GatewayService(
    playbook_endpoints.PlaybookEndpoints,
    board_endpoints.BoardEndpoints,
    dashboard_endpoints.DashboardEndpoints,
    profile_admin_endpoints.ProfileAdminEndpoints,
    incident_pages.IncidentPages,
    people_endpoints.PeopleEndpoints,
    team_endpoints.TeamEndpoints,
    token_endpoints.TokenEndpoints,
    lexicon_endpoints.LexiconEndpoints,
    followup_endpoints.FollowupEndpoints,
    template_endpoints.TemplateEndpoints,
    optout_endpoints.OptOutEndpoints,
    callback_endpoints.CallbackEndpoints,
):
    """The routes below, and those of the ``*_endpoints.py`` / ``*_pages.py`` mixins:
    playbooks, role boards, profile admin acts, incident pages, the people directory,
    the teams, API tokens, the live lexicon, follow-ups and the customer's survey, notification
    templates, opt-outs."""

    name = "gateway"
    health = HealthServer()  # /livez, /readyz when HEALTH_PORT is set
    masked_logs = MaskedLogs()  # phones, emails, secrets masked in every log record

    store: GatewayStore = MongoStore(GatewayStore)
    services = ClusterRpc()
    publish_feedback = FeedbackPublisher()
    # the case page's aspects use the live lexicon (services/common/lexicon.py)
    text = LiveLexicon()
    config_signal = ConfigSignal()
    publish_followup_answer = FollowupAnswerPublisher()
    callback_secrets = VendorCallbackSecrets()  # the SMS callback key, the WeChat server token

    # ------------------------------------------------------------------ API
    @route("feedback.ingest")
    def ingest_feedback(self, request, principal):
        """One event (an object) or a batch (an array); each item validated and published alone."""
        return ingest(
            json_body(request, storable=False), self.publish_feedback
        )  # parse_feedback checks each event

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
        return alert_rules.listing(self.services, request, query(request, "rules.list"))

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
        return alert_rules.backtest(self.services, load_dry_run(json_body(request)))

    @route("cases.list")
    def list_cases(self, request, principal):
        return cases.listing(self.services, request, principal.user, query(request, "cases.list"))

    @route("cases.get")
    def get_case(self, request, principal, case_id):
        return cases.one(self.services, principal.user, case_id)

    @route(*(f"cases.{action}" for action in ACTIONS))
    def case_action(self, request, principal, case_id):
        """``POST /api/v1/cases/<id>/<action>``: see services/gateway/actions.py."""
        action = route_of(request).name.removeprefix("cases.")
        body = load_body(action, json_body(request, allow_empty=True))
        return cases.act(self.services, principal.user, case_id, action, body)

    @route("incidents.list")
    def list_incidents(self, request, principal):
        return cases.incidents(self.services, request, query(request, "incidents.list"))

    @route("incidents.resolve")
    def resolve_incident(self, request, principal, case_id):
        body = load_valid_body(ResolveIncidentBody, json_body(request, allow_empty=True))
        return cases.resolve_incident(self.services, principal.user, case_id, body)

    @route("profiles.search")
    def search_profiles(self, request, principal):
        return profiles.search(self.services, request, principal.user, query(request, "profiles.search"))

    @route("profiles.get")
    def get_profile(self, request, principal, customer_id):
        q = query(request, "profiles.get")
        profile = self.services.profiles.get_profile(
            customer_id, timeline_limit=q["timeline_limit"], timeline_skip=q["timeline_skip"]
        )
        return profiles.scoped(self.services, principal.user, profile)

    @route("deliveries.list")
    def list_deliveries(self, request, principal):
        q = query(request, "deliveries.list")
        rows = self.services.notify.list_deliveries(
            limit=q["limit"] + 1, skip=q["offset"], status=q.get("status")
        )
        return page(request, rows, q["limit"], q["offset"])

    @route("metrics.get")
    def metrics(self, request, principal):
        return dashboard.figures(self.services, query(request, "metrics.get"))

    @route("stats.get")
    def stats(self, request, principal):
        return {name: getattr(self.services, name).stats() for name in BACKENDS}

    @route("me.get")
    def me(self, request, principal):
        return {**principal.user, "via": principal.via}

    @route("openapi.get")
    def openapi(self, request, principal):
        return build_openapi()

    # -------------------------------------------------------------- console
    @route("console.static")
    def static(self, request, principal, name):
        return static_asset(name)

    @route("console.login_form")
    def login_form(self, request, principal):
        if principal.user:
            raise Redirect(gate.safe_next(request.args.get("next")))
        return sessions.login_page(self.store, request, next_url=request.args.get("next", ""))

    @route("console.login")
    def login(self, request, principal):
        """Check the password unless this client is being slowed down (throttle.LoginThrottle)."""
        return sessions.log_in(self.store, request, principal)

    @route("console.logout")
    def logout(self, request, principal):
        return sessions.log_out(self.store, principal)

    @route("console.language")
    def language(self, request, principal):
        return sessions.switch_language(self.store, request, principal)

    @route("console.home")
    def home(self, request, principal):
        raise Redirect("/cases")

    @route("console.queue")
    def queue(self, request, principal):
        return queue.queue_page(self.services, principal, query(request, "console.queue"))

    @route("console.queue_live")
    def queue_live(self, request, principal):
        """The queue's rows and counts as an HTML fragment (console.js polls it)."""
        return queue.live_rows(self.services, principal, query(request, "console.queue_live"))

    @route("console.queue_bulk")
    def queue_bulk(self, request, principal):
        return queue.bulk(self.services, principal, request.form)

    @route("console.case")
    def case(self, request, principal, case_id):
        done = query(request, "console.case").get("done")
        return cases.case_page(self.services, principal, case_id, done=done)

    @route("console.case_take")
    def case_take(self, request, principal, case_id):
        return queue.take(self.services, principal, case_id, request.form)

    @route(*(f"console.case_{action}" for action in ACTIONS))
    def case_form(self, request, principal, case_id):
        """A case page form: the action, then back to the case (303), or the page with the error."""
        action = route_of(request).name.removeprefix("console.case_")
        return cases.form_action(self.services, principal, case_id, action, request.form)

    @route("console.profile")
    def profile(self, request, principal, customer_id):
        q = query(request, "console.profile")
        return profiles.profile_page(self.services, principal, customer_id, q)

    @route("console.customers")
    def customers(self, request, principal):
        data = profiles.search(self.services, request, principal.user, query(request, "console.customers"))
        return render("customers.html", principal, page=data, next_url=data["next"], args=request.args)

    @route("console.rules")
    def rules(self, request, principal):
        data = alert_rules.listing(self.services, request, query(request, "console.rules"))
        return render("rules.html", principal, page=data, next_url=data["next"])

    @route("console.rule")
    def rule_page(self, request, principal, rule_id):
        found = self.services.alerts.get_rule(rule_id)
        return render(
            "rule.html", principal, found=found, rule=found["rule"], text=document_text(found["rule"])
        )

    @route("console.rule_new", "console.rule_edit")
    def rule_editor(self, request, principal, rule_id=None):
        """The editor on the rule's text as typed (comments kept), else its YAML."""
        text = alert_rules.editor_text(self.services.alerts.get_rule(rule_id)) if rule_id else ""
        return render("rule_edit.html", principal, rule_id=rule_id, text=text)

    @route("console.rule_create", "console.rule_update")
    def rule_save(self, request, principal, rule_id=None):
        """Save the editor's YAML: back to the rule page (303), or the editor with the errors."""
        return alert_rules.save_form(self.services, principal, request.form.get("document", ""), rule_id)

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
        return alert_rules.dry_run_form(self.services, principal, request.form)

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
