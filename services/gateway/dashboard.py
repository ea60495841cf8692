"""The CX dashboard's figures, gathered over RPC, and its charts.

* alerts by level and by rule: ``alerts.stats(since, until)`` (alerts raised in the period);
* MTTA / MTTR, SLA breach rate, reopen rate and FCR, overall, per team and per
  touchpoint: ``cases.metrics`` (cases opened in the period);
* the NPS / CSAT / CES trend: ``profiles.score_trend(since, until, bucket)``.
  When the profiles service cannot give it (an older deployment without the
  RPC, or it does not answer), that section reads "not available" and the
  rest of the dashboard still renders.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from nameko.exceptions import RemoteError, RpcTimeout, UnknownService

from contracts.base import utcnow
from services.gateway.charts import bar_chart, line_chart
from services.gateway.errors import bad_request

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
    """The figures of ``q``'s window (routes.MetricsQuery; default: the last 30 days)."""
    until = q.get("until") or utcnow()
    since = q.get("since") or default_since(until)
    if until <= since:
        raise bad_request(["until: must be after since"], "query")
    return gather(services, since, until, q["bucket"])


def gather(services, since, until, bucket: str) -> dict:
    """Every figure of the dashboard, as the JSON of ``GET /api/v1/metrics``."""
    window = {"since": since.isoformat(), "until": until.isoformat()}
    alerts = services.alerts.stats(**window)
    by_team = services.cases.metrics({**window, "group_by": "team"})
    by_touchpoint = services.cases.metrics({**window, "group_by": "touchpoint"})
    return {
        **window,
        "bucket": bucket,
        "alerts": {
            "total": alerts.get("alerts", 0),
            "by_level": alerts.get("by_level", {}),
            "by_rule": alerts.get("by_rule", {}),
        },
        "cases": {
            "overall": by_team["overall"],
            "by_team": by_team["groups"],
            "by_touchpoint": by_touchpoint["groups"],
        },
        "scores": score_trend(services, window["since"], window["until"], bucket),
    }


def score_trend(services, since: str, until: str, bucket: str) -> dict:
    """``{"available": True, **trend}`` or ``{"available": False, "reason"}``."""
    try:
        return {"available": True, **services.profiles.score_trend(since, until, bucket)}
    except RemoteError as exc:
        if exc.exc_type not in ("MethodNotFound", "BadRequest"):
            raise
        reason = str(exc.value)
    except (RpcTimeout, UnknownService) as exc:
        reason = f"the profiles service did not answer ({type(exc).__name__})"
    log.warning("score trend not available: %s", reason)
    return {"available": False, "reason": reason}


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
            rows = [(str(g["key"] or t("dash.none")), g[figure]) for g in cases[group]]
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
