"""The gateway's route table: every URL, who may call it, and what it returns.

This one table drives the HTTP server (``entrypoints.py``), the authorisation
check, the OpenAPI document and the table in ``docs/api.md``. Adding an RPC to
the gateway is one ``Route`` here, one thin method in ``service.py`` and, for a
console page, one template.

Roles (see docs/api.md):

* ``agent``: works the case queue. Sees the cases the cases service's
  ``visible_to`` rule lets them see (assigned to them or one of their teams,
  collaborating on, unassigned of their teams); opens any customer's
  profile and the rules (the "why it fired" of a case). No alert feed,
  notification log or statistics.
* ``owner``: every read route, case actions (close included), rule dry-runs.
* ``admin``: every route, feedback ingestion and rule changes included.
* ``integration``: feedback ingestion only; API tokens, never the console.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import RAISE, Schema, fields, validate

from contracts.base import ID_PATTERN, NOT_AN_ID, Pattern, in_time_range
from contracts.people import PeopleDirectory
from services.gateway.actions import ACTIONS, ResolveIncidentBody, TakeBody
from services.gateway.dashboard_csv import TABLES as DASHBOARD_TABLES
from services.gateway.lexicon import AnalyzeBody, LexiconAspectBody, LexiconEditBody, LexiconRevertBody
from services.gateway.notify_templates import TemplateDraftBody, TemplateRevertBody, TemplateSaveBody
from services.gateway.optouts import CHANNELS as OPT_OUT_CHANNELS
from services.gateway.optouts import OptOutBody, ReasonBody
from services.gateway.playbooks import SaveBody, UseBody
from services.gateway.profile_admin import EraseBody, MergeBody
from services.gateway.rule_editor import DryRunBody
from textanalysis import lexicon as lists

ROLES = ("agent", "owner", "admin", "integration")
PEOPLE = ("agent", "owner", "admin")  # roles that may log in to the console

MAX_PAGE = 200
ID = Pattern(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$", error="letters, digits, '.', '_', ':', '@' or '-'")
LEVEL = validate.OneOf(("P1", "P2", "P3", "P4"))
CASE_STATUSES = (
    "open",
    "assigned",
    "in_progress",
    "pending_customer",
    "reopened",
    "resolved",
    "verified",
    "closed",
)
CASE_STATUS = validate.OneOf(CASE_STATUSES)
BREACH_STATES = ("breached", "ack_breached", "resolve_breached", "at_risk", "none")


class Query(Schema):
    """Base of query-string schemas: unknown parameters are errors (no ``a[$gt]``)."""

    class Meta:
        unknown = RAISE


class Page(Query):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))


class AlertQuery(Page):
    level = fields.String(validate=LEVEL)
    customer_id = fields.String(validate=ID)


class CaseQuery(Page):
    scope = fields.String(
        load_default="all",
        validate=validate.OneOf(("all", "mine", "team", "unassigned")),
        metadata={"description": "mine / team / unassigned; agents only ever see their scope"},
    )
    level = fields.String(validate=LEVEL)
    status = fields.String(validate=CASE_STATUS)
    breach = fields.String(
        validate=validate.OneOf(BREACH_STATES),
        metadata={"description": "ack_breached / resolve_breached / breached (either) / at_risk / none"},
    )
    touchpoint = fields.String(validate=validate.Length(min=1, max=64))
    sort = fields.String(
        load_default="urgency",
        validate=validate.OneOf(("urgency", "newest")),
        metadata={
            "description": "urgency: level, then SLA time left (sorts the first 500 matching cases); "
            "newest: level, then newest first"
        },
    )


class OptOutQuery(Page):
    customer = fields.String(
        validate=validate.Length(min=1, max=128),
        metadata={"description": "customer ids starting with this"},
    )
    channel = fields.String(validate=validate.OneOf(OPT_OUT_CHANNELS))


class OptOutPageQuery(OptOutQuery):
    done = fields.String(validate=validate.OneOf(("added", "removed")))


class IncidentQuery(Page):
    status = fields.String(
        validate=validate.OneOf(("active", *CASE_STATUSES)),
        metadata={"description": "a case status, or active (neither resolved nor closed)"},
    )


QUEUE_VIEWS = ("mine", "team", "unassigned", "breaching", "open", "all")


class QueueQuery(Page):
    """The console's queue: a saved view, a search and the filters (docs/console.md)."""

    view = fields.String(load_default="open", validate=validate.OneOf(QUEUE_VIEWS))
    q = fields.String(validate=validate.Length(min=1, max=128), metadata={"description": "search"})
    level = fields.String(validate=LEVEL)
    status = fields.String(validate=CASE_STATUS)
    breach = fields.String(validate=validate.OneOf(BREACH_STATES))
    touchpoint = fields.String(validate=validate.Length(min=1, max=64))
    sort = fields.String(load_default="urgency", validate=validate.OneOf(("urgency", "newest")))


class CasePageQuery(Query):
    done = fields.String(
        validate=validate.OneOf((*ACTIONS, "take", "playbook", "playbook_sent")),
        metadata={"description": "the action just done"},
    )


class TemplatePageQuery(Query):
    done = fields.String(
        validate=validate.OneOf(("saved", "reverted")), metadata={"description": "console: the act just done"}
    )


class DeliveryQuery(Page):
    status = fields.String(validate=validate.OneOf(("sending", "delivered", "failed")))


class ProfileQuery(Query):
    timeline_limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))
    timeline_skip = fields.Integer(load_default=0, validate=validate.Range(0, 1_000_000))
    done = fields.String(
        validate=validate.OneOf(("merged", "erased")), metadata={"description": "console: the act just done"}
    )


class PeoplePageQuery(Query):
    saved = fields.Integer(
        validate=validate.Range(1, 2**62), metadata={"description": "console: the revision just saved"}
    )


class TokensPageQuery(Query):
    revoked = fields.Integer(
        validate=validate.Range(0, 1_000_000), metadata={"description": "console: how many were just revoked"}
    )


class MetricsQuery(Query):
    since = fields.AwareDateTime(
        format="iso",
        validate=in_time_range,
        metadata={
            "description": "ISO-8601 with a UTC offset, 1970-01-01 to 2999-12-31 UTC; "
            "default: 30 days before until"
        },
    )
    until = fields.AwareDateTime(
        format="iso",
        validate=in_time_range,
        metadata={"description": "later than since, up to 2999-12-31 UTC; default: now"},
    )
    bucket = fields.String(load_default="day", validate=validate.OneOf(("day", "week")))


class ProfileSearch(Page):
    name = fields.String(validate=validate.Length(min=1, max=128), metadata={"description": "a substring"})
    phone = fields.String(validate=validate.Length(min=3, max=64), metadata={"description": "normalised"})
    email = fields.String(validate=validate.Length(min=3, max=254), metadata={"description": "normalised"})


class PlaybookMetricsQuery(Query):
    since = fields.AwareDateTime(
        format="iso",
        validate=in_time_range,
        metadata={"description": "ISO-8601 with a UTC offset: the first use counted; default 30 days ago"},
    )
    until = fields.AwareDateTime(
        format="iso", validate=in_time_range, metadata={"description": "default: now"}
    )


class DashboardQuery(Query):
    """The dashboard page's period: the date pickers' whole days (``BOARD_TIMEZONE``)."""

    since = fields.Date(
        metadata={"description": "first day (YYYY-MM-DD, BOARD_TIMEZONE); default: 29 days before until"}
    )
    until = fields.Date(metadata={"description": "last day, included; default: today"})
    bucket = fields.String(load_default="day", validate=validate.OneOf(("day", "week")))


class DashboardCsvQuery(DashboardQuery):
    table = fields.String(
        load_default="overall",
        validate=validate.OneOf(DASHBOARD_TABLES),
        metadata={"description": "which table (default overall): " + ", ".join(DASHBOARD_TABLES)},
    )


class BoardQuery(Query):
    since = fields.Date(
        metadata={"description": "first day (YYYY-MM-DD, BOARD_TIMEZONE); default: 29 days before until"}
    )
    until = fields.Date(metadata={"description": "last day, included; default: today"})
    team = fields.String(
        validate=ID, metadata={"description": "team board: the team (default: the caller's first)"}
    )
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))
    table = fields.String(
        validate=validate.Length(min=1, max=32), metadata={"description": "csv: which table"}
    )


class LexiconVersionQuery(Query):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))
    list = fields.String(validate=validate.OneOf((*lists.LISTS, lists.CODES)))


class IncidentPageQuery(Query):
    done = fields.String(
        validate=validate.OneOf(("resolved",)), metadata={"description": "the act just done"}
    )


class NoQuery(Query):
    pass


class LoginQuery(Query):
    next = fields.String(
        validate=validate.Length(max=2000), metadata={"description": "where to go after logging in"}
    )
    lang = fields.String(validate=validate.Length(max=16), metadata={"description": "zh-CN or en"})


class PathValues(Query):
    """Every path parameter any route uses, checked before a handler runs."""

    alert_id = fields.String(validate=ID)
    case_id = fields.String(validate=ID)
    rule_id = fields.String(validate=ID)
    customer_id = fields.String(
        validate=[validate.Length(min=1, max=128), Pattern(ID_PATTERN, error=NOT_AN_ID)],
        metadata={"description": "the integration's customer key"},
    )
    name = fields.String(validate=Pattern(r"^[a-z0-9_.-]{1,64}$", error="a file name"))
    playbook_id = fields.String(validate=ID)
    board = fields.String(validate=validate.OneOf(("mine", "team", "journey")))
    language = fields.String(
        validate=validate.OneOf(("zh-CN", "en")), metadata={"description": "a template's"}
    )
    template = fields.String(
        validate=Pattern(r"^_?[a-z][a-z_]{0,63}(\.[a-z]{1,16}){0,3}\.j2$", error="a template file name"),
        metadata={"description": "a notification template: <kind>[.<channel>].<part>.j2"},
    )
    version = fields.String(validate=Pattern(r"^[1-9][0-9]{0,11}$", error="a version number ≥ 1"))
    channel = fields.String(
        validate=validate.OneOf(OPT_OUT_CHANNELS), metadata={"description": "an opt-out channel"}
    )
    token = fields.String(
        validate=Pattern(r"^[A-Za-z0-9_-]{1,900}\.[A-Za-z0-9_-]{1,100}$", error="not a survey link"),
        metadata={"description": "a signed follow-up survey token"},
    )
    vendor = fields.String(
        validate=validate.OneOf(("aliyun", "tencent")), metadata={"description": "SMS vendor"}
    )
    callback_key = fields.String(
        validate=Pattern(r"^[A-Za-z0-9_~.-]{16,128}$", error="not a callback key"),
        metadata={"description": "the deployment's SMS_CALLBACK_KEY (the SMS vendors sign nothing)"},
    )


class SurveyQuery(Query):
    lang = fields.String(validate=validate.OneOf(("zh-CN", "en")))


class SurveyCodeQuery(SurveyQuery):
    code = fields.String(validate=validate.Length(min=1, max=16), metadata={"description": "a reply code"})


SMS_REPLY_OUTCOMES = ("answered", "duplicate", "unreadable", "unmatched", "opted_out")


class SmsReplyQuery(Page):
    outcome = fields.String(
        validate=validate.OneOf(SMS_REPLY_OUTCOMES),
        metadata={"description": "what became of the reply (docs/cases.md 'Answers by SMS')"},
    )


class WechatQuery(Query):
    """WeChat's server-configuration parameters (plain-text mode)."""

    signature = fields.String(validate=Pattern(r"^[0-9a-fA-F]{40}$", error="40 hex digits"))
    timestamp = fields.String(validate=Pattern(r"^[0-9]{1,12}$", error="digits"))
    nonce = fields.String(validate=validate.Length(min=1, max=64))
    echostr = fields.String(validate=validate.Length(min=1, max=128))
    openid = fields.String(validate=validate.Length(min=1, max=128))


class FollowupQuery(Page):
    scope = fields.String(
        load_default="mine",
        validate=validate.OneOf(("mine", "team", "all")),
        metadata={"description": "mine: my tasks and my teams'; all: every task (owner, admin)"},
    )
    state = fields.String(load_default="open", validate=validate.OneOf(("open", "done", "all")))
    overdue = fields.Boolean(load_default=False, metadata={"description": "open tasks past their due time"})


@dataclass(frozen=True)
class Route:
    """One URL. ``kind`` is ``api`` (JSON, token or session) or ``page`` (HTML, session)."""

    name: str
    method: str
    path: str
    roles: tuple[str, ...]
    summary: str
    kind: str = "api"
    query: type[Query] = NoQuery
    list: bool = False  # a paginated list: {"items", "limit", "offset", "next"}
    public: bool = False  # reachable without a login (the login page, the survey)
    # the request carries its own credential (a signed survey link): no session, no CSRF
    own_credential: bool = False
    body: type[Schema] | None = None  # the JSON body's schema (OpenAPI), when it has one
    # JSON body keys starting with "$" or holding "." are refused before the handler
    # runs, except where a contract checks them item by item (feedback batches).
    keys_checked_per_item: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def openapi_path(self) -> str:
        return self.path.replace("<", "{").replace(">", "}")


ALL_READERS = ("agent", "owner", "admin")
OFFICE = ("owner", "admin")
ADMIN = ("admin",)

ROUTES: tuple[Route, ...] = (
    # --- HTTP API ---------------------------------------------------------
    Route(
        "feedback.ingest",
        "POST",
        "/api/v1/feedback",
        ("integration", "admin"),
        "Publish one feedback event or a batch (a JSON array) to cx.feedback",
        tags=("feedback",),
        keys_checked_per_item=True,
    ),
    Route(
        "alerts.list",
        "GET",
        "/api/v1/alerts",
        OFFICE,
        "List alerts, newest first",
        query=AlertQuery,
        list=True,
        tags=("alerts",),
    ),
    Route(
        "alerts.get",
        "GET",
        "/api/v1/alerts/<alert_id>",
        OFFICE,
        'One alert with its "why it fired" trace',
        tags=("alerts",),
    ),
    Route(
        "rules.list",
        "GET",
        "/api/v1/rules",
        ALL_READERS,
        "List alert rules",
        query=Page,
        list=True,
        tags=("rules",),
    ),
    Route(
        "rules.get",
        "GET",
        "/api/v1/rules/<rule_id>",
        ALL_READERS,
        "One rule with its versions (who, when, action, unified diff)",
        tags=("rules",),
    ),
    Route(
        "rules.create",
        "POST",
        "/api/v1/rules",
        ADMIN,
        "Create a rule (version 1); errors name the field path",
        tags=("rules",),
    ),
    Route(
        "rules.update",
        "PUT",
        "/api/v1/rules/<rule_id>",
        ADMIN,
        "Replace a rule's definition (a new version; unchanged → none)",
        tags=("rules",),
    ),
    Route("rules.enable", "POST", "/api/v1/rules/<rule_id>/enable", ADMIN, "Enable a rule", tags=("rules",)),
    Route(
        "rules.disable", "POST", "/api/v1/rules/<rule_id>/disable", ADMIN, "Disable a rule", tags=("rules",)
    ),
    Route(
        "rules.backtest",
        "POST",
        "/api/v1/rules/backtest",
        OFFICE,
        "Dry-run a stored rule or an unsaved draft against recent feedback (nothing is written)",
        body=DryRunBody,
        tags=("rules",),
    ),
    Route(
        "lexicon.get",
        "GET",
        "/api/v1/lexicon",
        OFFICE,
        "The admin's additions to and removals from the word lists, the latest version",
        tags=("lexicon",),
    ),
    Route(
        "lexicon.versions",
        "GET",
        "/api/v1/lexicon/versions",
        OFFICE,
        "The lexicon's versions, newest first: the edit, who, when, why",
        query=LexiconVersionQuery,
        tags=("lexicon",),
    ),
    Route(
        "lexicon.edit",
        "POST",
        "/api/v1/lexicon/edits",
        ADMIN,
        "Add or remove a word (201: a new version; 200: the lists already say so); every "
        "analysing service's replicas use it within CONFIG_MAX_STALENESS_SECONDS",
        body=LexiconEditBody,
        tags=("lexicon",),
    ),
    Route(
        "lexicon.add_aspect",
        "POST",
        "/api/v1/lexicon/aspects",
        ADMIN,
        "Add an aspect code with its zh-CN and en labels (201: a new version; 400 naming the "
        "field for a malformed or existing code or a missing label); terms, rules and playbooks "
        "may name it once every replica has it (CONFIG_MAX_STALENESS_SECONDS)",
        body=LexiconAspectBody,
        tags=("lexicon",),
    ),
    Route(
        "lexicon.revert",
        "POST",
        "/api/v1/lexicon/versions/<version>/revert",
        ADMIN,
        "Undo one version's edit (a new version); 409 when a later edit changed the word, or "
        "when it takes away an aspect code a term, a saved rule or a playbook still names",
        body=LexiconRevertBody,
        tags=("lexicon",),
    ),
    Route(
        "lexicon.analyze",
        "POST",
        "/api/v1/lexicon/analyze",
        OFFICE,
        "What the analysis makes of a text and why, with the live lexicon or a draft of unsaved edits",
        body=AnalyzeBody,
        tags=("lexicon",),
    ),
    Route(
        "templates.list",
        "GET",
        "/api/v1/templates",
        ADMIN,
        "Every notification template (language, kind, channel, part): shipped or overridden "
        "(the override's version, who, when, why)",
        tags=("templates",),
    ),
    Route(
        "templates.get",
        "GET",
        "/api/v1/templates/<language>/<template>",
        ADMIN,
        "A template's source, the shipped file's, the override's versions and the channels",
        tags=("templates",),
    ),
    Route(
        "templates.save",
        "PUT",
        "/api/v1/templates/<language>/<template>",
        ADMIN,
        "Save the source as the override's next version (who: the caller; why: reason); a template "
        "that does not compile or render its kind's sample is a 400 naming source and the line",
        body=TemplateSaveBody,
        tags=("templates",),
    ),
    Route(
        "templates.revert",
        "POST",
        "/api/v1/templates/<language>/<template>/revert",
        ADMIN,
        "Drop the override (a new version): the shipped template applies again; 404 without one",
        body=TemplateRevertBody,
        tags=("templates",),
    ),
    Route(
        "templates.preview",
        "POST",
        "/api/v1/templates/<language>/<template>/preview",
        ADMIN,
        "Render a draft with notify's renderer from its kind's sample as a channel sends it: "
        "errors and unknown fields with their lines (nothing stored or sent)",
        body=TemplateDraftBody,
        tags=("templates",),
    ),
    Route(
        "templates.test",
        "POST",
        "/api/v1/templates/<language>/<template>/test",
        ADMIN,
        "Send a draft's rendering, marked as a test, to the caller's own destination on a channel "
        "through notify's pipeline: outcome sent, refused (no destination) or failed; 429 past the "
        "per-user limit",
        body=TemplateDraftBody,
        tags=("templates",),
    ),
    Route(
        "optouts.list",
        "GET",
        "/api/v1/optouts",
        OFFICE,
        "Customers' contact opt-outs in force, one row per customer and channel (who, when, why)",
        query=OptOutQuery,
        list=True,
        tags=("optouts",),
    ),
    Route(
        "optouts.add",
        "POST",
        "/api/v1/optouts",
        OFFICE,
        "Record that a customer opted out of a channel (all: every one), with the reason; kept "
        "with who and when in the customer's history",
        body=OptOutBody,
        tags=("optouts",),
    ),
    Route(
        "optouts.get",
        "GET",
        "/api/v1/optouts/<customer_id>",
        OFFICE,
        "A customer's opt-outs per channel and the history of every change (who, when, why)",
        tags=("optouts",),
    ),
    Route(
        "optouts.remove",
        "POST",
        "/api/v1/optouts/<customer_id>/<channel>/remove",
        OFFICE,
        "Withdraw a customer's opt-out of a channel, with the reason (404: none in force)",
        body=ReasonBody,
        tags=("optouts",),
    ),
    Route(
        "cases.list",
        "GET",
        "/api/v1/cases",
        ALL_READERS,
        "List cases by urgency (level), then age; agents see their scope only",
        query=CaseQuery,
        list=True,
        tags=("cases",),
    ),
    Route(
        "cases.get",
        "GET",
        "/api/v1/cases/<case_id>",
        ALL_READERS,
        "One case with its trace, audit trail and the comment's aspects",
        tags=("cases",),
    ),
    *(
        Route(
            f"cases.{action}",
            "POST",
            f"/api/v1/cases/<case_id>/{action}",
            roles,
            summary + " (agents: cases visible to them)",
            body=body,
            tags=("cases",),
        )
        for action, (roles, body, summary) in ACTIONS.items()
    ),
    Route(
        "cases.take",
        "POST",
        "/api/v1/cases/<case_id>/take",
        ("agent", "owner", "admin"),
        "Take the case yourself while its owner is still the one you saw (409 when it changed)",
        body=TakeBody,
        tags=("cases",),
    ),
    Route(
        "cases.playbooks",
        "GET",
        "/api/v1/cases/<case_id>/playbooks",
        ALL_READERS,
        "The playbooks that fit a case, best first, with why and the reply filled; those used on it",
        tags=("cases", "playbooks"),
    ),
    Route(
        "cases.use_playbook",
        "POST",
        "/api/v1/cases/<case_id>/playbooks/<playbook_id>/use",
        ALL_READERS,
        "Use a playbook on a case: the reply filled and recorded; with send, sent to the customer",
        body=UseBody,
        tags=("cases", "playbooks"),
    ),
    Route(
        "boards.get",
        "GET",
        "/api/v1/boards/<board>",
        ALL_READERS,
        "A role board (mine / team / journey; journey for owners and admins), or one table as CSV",
        query=BoardQuery,
        tags=("metrics",),
    ),
    Route(
        "playbooks.list", "GET", "/api/v1/playbooks", ALL_READERS, "The playbook library", tags=("playbooks",)
    ),
    Route(
        "playbooks.metrics",
        "GET",
        "/api/v1/playbooks/metrics",
        OFFICE,
        "Per playbook: uses, resolution time, reopen rate, post-resolution CSAT",
        query=PlaybookMetricsQuery,
        tags=("playbooks",),
    ),
    Route(
        "playbooks.get",
        "GET",
        "/api/v1/playbooks/<playbook_id>",
        ALL_READERS,
        "One playbook with its versions (who, when, why)",
        tags=("playbooks",),
    ),
    Route(
        "playbooks.save",
        "PUT",
        "/api/v1/playbooks/<playbook_id>",
        ADMIN,
        "Save a playbook as a new version (unchanged → none); errors name the field",
        body=SaveBody,
        tags=("playbooks",),
    ),
    Route(
        "people.get",
        "GET",
        "/api/v1/people",
        ADMIN,
        "The people directory (people, teams, strategies) with its revision; 404 before the first save",
        tags=("people",),
    ),
    Route(
        "people.save",
        "PUT",
        "/api/v1/people",
        ADMIN,
        "Save the whole people directory as the next revision; cases and notify follow it. 400 names each "
        "bad field (people.3.channels: … can be assigned cases … but has no channel notify can reach)",
        body=PeopleDirectory,
        tags=("people",),
    ),
    Route(
        "incidents.list",
        "GET",
        "/api/v1/incidents",
        OFFICE,
        "Incidents (parent cases of group alerts) by level, newest first, with their children's counts; "
        "GET /api/v1/cases/<case_id> shows one with its children",
        query=IncidentQuery,
        list=True,
        tags=("cases",),
    ),
    Route(
        "incidents.resolve",
        "POST",
        "/api/v1/incidents/<case_id>/resolve",
        OFFICE,
        "Resolve an incident; resolve_children resolves each open child case through the normal resolve "
        "(idempotent: again finishes what is left)",
        body=ResolveIncidentBody,
        tags=("cases",),
    ),
    Route(
        "profiles.search",
        "GET",
        "/api/v1/profiles",
        ALL_READERS,
        "Find customers' profiles by name (substring), phone or email; every given key must match",
        query=ProfileSearch,
        list=True,
        tags=("profiles",),
    ),
    Route(
        "profiles.get",
        "GET",
        "/api/v1/profiles/<customer_id>",
        ALL_READERS,
        "A customer's experience profile (体验档案)",
        query=ProfileQuery,
        tags=("profiles",),
    ),
    Route(
        "profiles.merge",
        "POST",
        "/api/v1/profiles/<customer_id>/merge",
        ADMIN,
        "Merge another id of the same person into this customer (confirm: true; audited)",
        body=MergeBody,
        tags=("profiles",),
    ),
    Route(
        "profiles.erase",
        "POST",
        "/api/v1/profiles/<customer_id>/erase",
        ADMIN,
        "Erase the customer's personal data everywhere (confirm: the customer id; audited)",
        body=EraseBody,
        tags=("profiles",),
    ),
    Route(
        "profiles.export",
        "GET",
        "/api/v1/profiles/<customer_id>/export",
        ADMIN,
        "Everything kept about the customer, as a JSON download (audited)",
        tags=("profiles",),
    ),
    Route(
        "deliveries.list",
        "GET",
        "/api/v1/notifications",
        OFFICE,
        "The notification delivery log",
        query=DeliveryQuery,
        list=True,
        tags=("notifications",),
    ),
    Route(
        "metrics.get",
        "GET",
        "/api/v1/metrics",
        ALL_READERS,
        "Dashboard figures: alerts by level and rule, case metrics per team and touchpoint, score trend, "
        "what comments were about per touchpoint",
        query=MetricsQuery,
        tags=("metrics",),
    ),
    Route(
        "followups.list",
        "GET",
        "/api/v1/followups",
        ALL_READERS,
        "Follow-up tasks (回访), soonest due first, with overdue ones flagged; agents see their own",
        query=FollowupQuery,
        list=True,
        tags=("cases",),
    ),
    Route(
        "teams.list",
        "GET",
        "/api/v1/teams",
        ALL_READERS,
        "Teams from the people directory: lead, members on shift, open cases and load per member, "
        "breaching cases (an agent: their own teams and those they lead)",
        tags=("people",),
    ),
    Route("stats.get", "GET", "/api/v1/stats", OFFICE, "Counters of every service", tags=("stats",)),
    Route("me.get", "GET", "/api/v1/me", ROLES, "Who the caller is", tags=("auth",)),
    Route(
        "openapi.get", "GET", "/api/v1/openapi.json", ROLES, "This API's OpenAPI 3.1 document", tags=("meta",)
    ),
    # --- console ----------------------------------------------------------
    Route(
        "console.static",
        "GET",
        "/static/<name>",
        PEOPLE,
        "Console assets (CSS, JS)",
        kind="page",
        public=True,
    ),
    Route(
        "console.login_form",
        "GET",
        "/login",
        PEOPLE,
        "Login page",
        kind="page",
        public=True,
        query=LoginQuery,
    ),
    Route("console.login", "POST", "/login", PEOPLE, "Log in (form)", kind="page", public=True),
    Route("console.logout", "POST", "/logout", PEOPLE, "Log out (form)", kind="page"),
    Route("console.language", "POST", "/language", PEOPLE, "Switch language (form)", kind="page"),
    Route("console.home", "GET", "/", PEOPLE, "Redirect to the case queue", kind="page"),
    Route(
        "console.followups",
        "GET",
        "/followups",
        PEOPLE,
        "Follow-up tasks (回访): mine and my teams', overdue flagged",
        kind="page",
        query=FollowupQuery,
    ),
    Route("console.queue", "GET", "/cases", PEOPLE, "Case queue", kind="page", query=QueueQuery),
    Route(
        "console.queue_live",
        "GET",
        "/cases/live",
        PEOPLE,
        "The queue's rows and counts, for live updates (HTML fragment)",
        kind="page",
        query=QueueQuery,
    ),
    Route(
        "console.queue_bulk",
        "POST",
        "/cases/bulk",
        PEOPLE,
        "Bulk assign / acknowledge / resolve (form; each case as its single action allows)",
        kind="page",
    ),
    Route("console.case", "GET", "/cases/<case_id>", PEOPLE, "Case page", kind="page", query=CasePageQuery),
    Route(
        "console.case_playbook",
        "POST",
        "/cases/<case_id>/playbooks/<playbook_id>/use",
        PEOPLE,
        "Case page form: use a suggested playbook (fill the reply; send it when ticked)",
        kind="page",
    ),
    Route(
        "console.case_take",
        "POST",
        "/cases/<case_id>/take",
        PEOPLE,
        "Take it: the case is mine (form)",
        kind="page",
    ),
    *(
        Route(
            f"console.case_{action}",
            "POST",
            f"/cases/<case_id>/{action}",
            roles,
            f"Case page form: {action}",
            kind="page",
        )
        for action, (roles, _, _) in ACTIONS.items()
    ),
    Route(
        "console.profile",
        "GET",
        "/customers/<customer_id>",
        PEOPLE,
        "Customer profile (体验档案)",
        kind="page",
        query=ProfileQuery,
    ),
    Route(
        "console.profile_merge",
        "POST",
        "/customers/<customer_id>/merge",
        ADMIN,
        "Profile page form: merge another id into this customer",
        kind="page",
    ),
    Route(
        "console.profile_erase",
        "POST",
        "/customers/<customer_id>/erase",
        ADMIN,
        "Profile page form: erase the customer's personal data",
        kind="page",
    ),
    Route(
        "console.profile_export",
        "GET",
        "/customers/<customer_id>/export",
        ADMIN,
        "Profile page: download everything kept about the customer",
        kind="page",
    ),
    Route(
        "console.customers", "GET", "/customers", PEOPLE, "Customer search", kind="page", query=ProfileSearch
    ),
    Route("console.rules", "GET", "/rules", PEOPLE, "Rules list", kind="page", query=Page),
    Route(
        "console.people",
        "GET",
        "/people",
        ADMIN,
        "People and teams (the people directory) with its editor",
        kind="page",
        query=PeoplePageQuery,
    ),
    Route("console.people_save", "POST", "/people", ADMIN, "Save the people directory (form)", kind="page"),
    Route(
        "console.teams",
        "GET",
        "/teams",
        PEOPLE,
        "Teams: lead, members on shift, open cases and load per member, breaching cases",
        kind="page",
    ),
    Route("console.tokens", "GET", "/tokens", ADMIN, "API tokens", kind="page", query=TokensPageQuery),
    Route("console.tokens_issue", "POST", "/tokens", ADMIN, "Issue an API token (form)", kind="page"),
    Route("console.tokens_revoke", "POST", "/tokens/revoke", ADMIN, "Revoke API tokens (form)", kind="page"),
    Route("console.rule", "GET", "/rules/<rule_id>", PEOPLE, "Rule page: definition, versions", kind="page"),
    Route("console.rule_new", "GET", "/rule-editor", ADMIN, "New rule form", kind="page"),
    Route("console.rule_edit", "GET", "/rules/<rule_id>/edit", ADMIN, "Edit rule form", kind="page"),
    Route("console.rule_create", "POST", "/rules", ADMIN, "Create a rule (form)", kind="page"),
    Route("console.rule_update", "POST", "/rules/<rule_id>", ADMIN, "Save a rule (form)", kind="page"),
    Route(
        "console.rule_enabled",
        "POST",
        "/rules/<rule_id>/enabled",
        ADMIN,
        "Enable/disable (form)",
        kind="page",
    ),
    Route(
        "console.rule_dry_run", "POST", "/rule-editor/dry-run", OFFICE, "Dry-run a rule (form)", kind="page"
    ),
    Route(
        "console.incidents",
        "GET",
        "/incidents",
        OFFICE,
        "Incidents (parent cases of group alerts) with their children's counts",
        kind="page",
        query=IncidentQuery,
    ),
    Route(
        "console.incident",
        "GET",
        "/incidents/<case_id>",
        OFFICE,
        "One incident: its group, what was observed, its children, the resolve form",
        kind="page",
        query=IncidentPageQuery,
    ),
    Route(
        "console.incident_resolve",
        "POST",
        "/incidents/<case_id>/resolve",
        OFFICE,
        "Resolve an incident, with its children when ticked (form)",
        kind="page",
    ),
    Route(
        "console.dashboard", "GET", "/dashboard", PEOPLE, "CX dashboard", kind="page", query=DashboardQuery
    ),
    Route(
        "console.board",
        "GET",
        "/boards/<board>",
        PEOPLE,
        "Role boards: my work, my team, the customer journey",
        kind="page",
        query=BoardQuery,
    ),
    Route(
        "console.optouts",
        "GET",
        "/optouts",
        OFFICE,
        "Customers' opt-outs: search, add one with a reason, withdraw one, a customer's history",
        kind="page",
        query=OptOutPageQuery,
    ),
    Route("console.optout_add", "POST", "/optouts", OFFICE, "Record an opt-out (form)", kind="page"),
    Route(
        "console.optout_remove",
        "POST",
        "/optouts/<customer_id>/<channel>/remove",
        OFFICE,
        "Withdraw an opt-out (form)",
        kind="page",
    ),
    Route(
        "console.lexicon", "GET", "/lexicon", OFFICE, "Lexicon page: edits, versions, try a text", kind="page"
    ),
    Route("console.lexicon_edit", "POST", "/lexicon/edit", ADMIN, "Add or remove a word (form)", kind="page"),
    Route(
        "console.lexicon_aspect", "POST", "/lexicon/aspects", ADMIN, "Add an aspect code (form)", kind="page"
    ),
    Route(
        "console.lexicon_revert",
        "POST",
        "/lexicon/versions/<version>/revert",
        ADMIN,
        "Revert a lexicon version (form)",
        kind="page",
    ),
    Route(
        "console.lexicon_analyze",
        "POST",
        "/lexicon/analyze",
        OFFICE,
        "Try a text, with the form's word as a draft (form)",
        kind="page",
    ),
    Route(
        "console.templates",
        "GET",
        "/templates",
        ADMIN,
        "Notification templates: shipped or overridden (version, who, when)",
        kind="page",
    ),
    Route(
        "console.template",
        "GET",
        "/templates/<language>/<template>",
        ADMIN,
        "Template editor: source, preview, save, revert, test send",
        kind="page",
        query=TemplatePageQuery,
    ),
    *(
        Route(
            f"console.template_{action}",
            "POST",
            f"/templates/<language>/<template>{suffix}",
            ADMIN,
            summary,
            kind="page",
        )
        for action, suffix, summary in (
            ("save", "", "Save the draft as a new override version (form)"),
            ("preview", "/preview", "Preview the draft (form)"),
            ("test", "/test", "Send the draft to yourself, marked as a test (form)"),
            ("revert", "/revert", "Revert to the shipped template (form)"),
        )
    ),
    Route(
        "console.dashboard_aspects_csv",
        "GET",
        "/dashboard/aspects.csv",
        PEOPLE,
        "The dashboard's aspects per touchpoint as CSV (UTF-8 with BOM; headers in the user's language)",
        kind="page",
        query=DashboardQuery,
    ),
    Route(
        "console.dashboard_csv",
        "GET",
        "/dashboard/export.csv",
        PEOPLE,
        "One of the dashboard's tables as CSV (UTF-8 with BOM; headers in the user's language)",
        kind="page",
        query=DashboardCsvQuery,
    ),
    # --- the customer's follow-up survey (no login: the signed link is the credential) ---
    *(
        Route(name, method, path, PEOPLE, summary, kind="page", public=True, own_credential=True, query=q)
        for name, method, path, summary, q in (
            ("survey.code", "GET", "/survey", "Follow-up survey: enter a reply code", SurveyCodeQuery),
            ("survey.form", "GET", "/survey/<token>", "Follow-up survey: the question", SurveyQuery),
            ("survey.answer", "POST", "/survey/<token>", "Follow-up survey: the answer (form)", NoQuery),
        )
    ),
    Route(
        "sms_replies.list",
        "GET",
        "/api/v1/sms-replies",
        OFFICE,
        "Customers' SMS replies as received (number masked), newest first, with what became of each",
        query=SmsReplyQuery,
        list=True,
        tags=("followups",),
    ),
    # --- the vendors' callbacks (no login: the vendor's signature or the callback key) ---
    *(
        Route(
            name,
            method,
            path,
            PEOPLE,
            summary,
            public=True,
            own_credential=True,
            query=q,
            tags=("callbacks",),
        )
        for name, method, path, summary, q in (
            (
                "callbacks.sms_report",
                "POST",
                "/callbacks/sms/<vendor>/<callback_key>/report",
                "SMS delivery reports (Alibaba Cloud SmsReport, Tencent Cloud status callback)",
                NoQuery,
            ),
            (
                "callbacks.sms_reply",
                "POST",
                "/callbacks/sms/<vendor>/<callback_key>/reply",
                "Customers' SMS replies (Alibaba Cloud SmsUp, Tencent Cloud reply callback)",
                NoQuery,
            ),
            (
                "callbacks.wechat_verify",
                "GET",
                "/callbacks/wechat-oa",
                "WeChat server URL check (echostr)",
                WechatQuery,
            ),
            (
                "callbacks.wechat_event",
                "POST",
                "/callbacks/wechat-oa",
                "WeChat event push (TEMPLATESENDJOBFINISH)",
                WechatQuery,
            ),
        )
    ),
)

BY_NAME = {r.name: r for r in ROUTES}
assert len(BY_NAME) == len(ROUTES), "route names must be unique"


def allowed(route: Route, role: str) -> bool:
    return role in route.roles
