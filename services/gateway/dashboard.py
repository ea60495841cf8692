"""The CX dashboard's figures, gathered over RPC, and its charts.

* alerts by level and by rule: ``alerts.stats(since, until)`` (alerts raised in the period);
* MTTA / MTTR, SLA breach rate, reopen rate and FCR, overall, per team and per
  touchpoint: ``cases.metrics`` (cases opened in the period);
* the NPS / CSAT / CES trend: ``profiles.score_trend(since, until, bucket)``;
* what comments were about per touchpoint (feedback, comments, each aspect's count):
  ``profiles.aspects_by_touchpoint(since, until)``, from the aspects profiles keeps on
  each feedback entry; also as CSV (``aspects_csv``).
  When the profiles service cannot give one of these (an older deployment without the
  RPC, or it does not answer), that section reads "not available" and the
  rest of the dashboard still renders.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

from contracts.base import utcnow
from services.gateway import dashboard_csv
from services.gateway.boards import period
from services.gateway.charts import bar_chart, line_chart
from services.gateway.errors import bad_request
from services.gateway.i18n import label

log = logging.getLogger(__name__)

LEVELS = ("P1", "P2", "P3", "P4")
DEFAULT_DAYS = 30
# figure -> unit of the per-team / per-touchpoint charts
CASE_FIGURES = {
    "mtta_seconds": "s",
    "mttr_seconds": "s",
    "sla_breach_rate": "%",
    "reopen_rate": "%",
    "fcr_rate": "%",
}


def default_since(until):
    return until - timedelta(days=DEFAULT_DAYS)


def figures(services, q: dict) -> dict:
    """The figures of ``q``'s window (routes.MetricsQuery; default: the last 30 days, until
    now)."""
    until = q.get("until") or utcnow()
    since = q.get("since") or default_since(until)
    if until <= since:
        raise bad_request(["until: must be after since"], "query")
    return gather(services, since, until, q["bucket"])


def page_figures(services, q: dict) -> dict:
    """The dashboard page's figures: whole local days as the date pickers give them
    (routes.DashboardQuery, ``boards.period``: default the last 30 days, today
    included), with the days for the pickers (``first_day``, ``last_day``)."""
    first, last, start, end = period(q)
    days = {"first_day": first.isoformat(), "last_day": last.isoformat()}
    return {**gather(services, start, end, q["bucket"]), **days}


def gather(services, since, until, bucket: str) -> dict:
    """Every figure of the dashboard, as the JSON of ``GET /api/v1/metrics``."""
    window = {"since": since.isoformat(), "until": until.isoformat()}
    alerts = services.alerts.stats(**window)
    cases = services.cases.metrics({**window, "group_by": "team", "also": ["touchpoint"]})  # one read
    return {
        **window,
        "bucket": bucket,
        "alerts": {
            "total": alerts.get("alerts", 0),
            "by_level": alerts.get("by_level", {}),
            "by_rule": alerts.get("by_rule", {}),
        },
        "cases": {
            "overall": cases["overall"],
            "by_team": cases["groups"],
            "by_touchpoint": cases["also"]["touchpoint"],
        },
        "scores": score_trend(services, window["since"], window["until"], bucket),
        "aspects": aspects(services, window["since"], window["until"]),
    }


def aspects(services, since: str, until: str) -> dict:
    """``{"available": True, "aspects", "touchpoints"}`` or ``{"available": False, "reason"}``."""
    return _optional(lambda: services.profiles.aspects_by_touchpoint(since, until), "aspects per touchpoint")


def aspects_csv(services, q: dict, t) -> str:
    """The aspects table as CSV: touchpoint (its code), feedback, comments, one column per aspect."""
    _first, _last, since, until = period(q)
    table = aspects(services, since.isoformat(), until.isoformat())
    return dashboard_csv.csv_text(*dashboard_csv.aspects({"aspects": table}, t, touchpoint_codes=True))


def score_trend(services, since: str, until: str, bucket: str) -> dict:
    """``{"available": True, **trend}`` or ``{"available": False, "reason"}``."""
    return _optional(lambda: services.profiles.score_trend(since, until, bucket), "score trend")


def _optional(ask, what: str) -> dict:
    try:
        return {"available": True, **ask()}
    except RemoteError as exc:
        if exc.exc_type not in ("MethodNotFound", "BadRequest"):
            raise
        reason = str(exc.value)
    except (RpcTimeout, UnknownService) as exc:
        reason = f"the profiles service did not answer ({type(exc).__name__})"
    log.warning("%s not available: %s", what, reason)
    return {"available": False, "reason": reason}


def _group_name(t, group: str, key) -> str:
    """A bar's name: a team's id, a touchpoint in the page's language; none: "none"."""
    if not key:
        return t("dash.none")
    return label(t, "touchpoint", key) if group == "by_touchpoint" else str(key)


def charts(figures: dict, t) -> dict:
    """The dashboard's SVG charts, labelled in the page's language (``t``)."""
    alerts, cases = figures["alerts"], figures["cases"]
    out = {
        "alerts_by_level": bar_chart(
            "chart-alerts-level",
            t("dash.alerts_by_level"),
            [(t("level." + level), alerts["by_level"].get(level, 0)) for level in LEVELS],
        ),
        "alerts_by_rule": bar_chart(
            "chart-alerts-rule",
            t("dash.alerts_by_rule"),
            sorted(alerts["by_rule"].items(), key=lambda kv: (-kv[1], str(kv[0])))[:15],
        ),
    }
    for group in ("by_team", "by_touchpoint"):
        for figure, unit in CASE_FIGURES.items():
            rows = [(_group_name(t, group, g["key"]), g[figure]) for g in cases[group]]
            out[f"{group}.{figure}"] = bar_chart(
                f"chart-{group}-{figure}".replace("_", "-"),
                f"{t('dash.' + figure)} · {t('dash.' + group)}",
                rows,
                unit,
            )
    scores = figures["scores"]
    if scores["available"]:
        labels = [b["start"][:10] for b in scores["buckets"]]
        out["nps"] = line_chart(
            "chart-nps",
            t("dash.nps_trend"),
            labels,
            {"NPS": [b["nps"]["score"] for b in scores["buckets"]]},
            bounds=(-100, 100),
        )
        out["csat_ces"] = line_chart(
            "chart-csat-ces",
            t("dash.csat_ces_trend"),
            labels,
            {kind.upper(): [b[kind]["avg"] for b in scores["buckets"]] for kind in ("csat", "ces")},
        )
    return out
