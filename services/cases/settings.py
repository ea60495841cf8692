"""Settings of the cases service: its keys and their defaults (read with
``services.common.settings.get``; overridden in ``deploy/config.yaml`` or the environment)."""

from services.common import settings

DEFAULTS = settings.declare(
    {
        # Cases: the topic part of the one-open-case-per-customer key (comma-separated:
        # rule, touchpoint, channel, level) and how long a resolved case reopens on a new alert.
        "CASE_OPEN_KEY": "rule",
        "CASE_REOPEN_WINDOW_HOURS": 72.0,
        # Escalation: how often the sweep looks for due steps, and how long a claim holds.
        "ESCALATION_SWEEP_SECONDS": 5.0,
        "ESCALATION_LEASE_SECONDS": 30.0,
        # Cases: how often agent loads are recounted from the open cases (also at start),
        # and how long after a charge or a load move an agent is taken as still moving
        # (the recount leaves them for its next run). It must exceed the longest time a
        # live worker takes from charging a pick to storing the case, or from storing a
        # case to moving its load (a few store round trips; each gives up after 5 s), plus
        # the clock difference between replicas (the times are each worker's own).
        "LOAD_RECOUNT_SECONDS": 3600.0,
        "LOAD_SETTLE_SECONDS": 120.0,
        # Incidents: how long a resolver holds an incident's "resolve the children" request
        # before the sweep (every ESCALATION_SWEEP_SECONDS) finishes it in its place.
        "INCIDENT_RESOLVE_LEASE_SECONDS": 120.0,
        # Follow-up (回访): the survey page's public base URL (empty: CONSOLE_URL, where the
        # gateway serves /survey/<token>); the customer channels and language of a case
        # comment with visibility customer (sent as customer_message_requested case_reply).
        "SURVEY_BASE_URL": "",
        "CUSTOMER_REPLY_CHANNELS": "wechat_oa,sms,email",
        "CUSTOMER_REPLY_LANGUAGE": "zh-CN",
    }
)
