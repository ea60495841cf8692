"""Every table behind the dashboard as CSV, in the user's language (``/dashboard/export.csv``).

The page shows some figures as tables and others as charts; each is one ``table`` here,
built from the same figures (``dashboard.page_figures``) the page drew: the overall
figures, the score trend per bucket, alerts per level and per rule, the case figures
per team and per touchpoint, and the aspects per touchpoint. Headers and labels are in
the user's language; numbers stay numbers (durations in seconds, rates as fractions),
so a spreadsheet can compute with them. UTF-8 with a BOM: spreadsheets then read Chinese.
"""

from __future__ import annotations

import csv
import io

from contracts.messages import LEVELS
from services.gateway.errors import HttpError
from services.gateway.i18n import label

# The case figures every board and the dashboard list, in this order (cases.metrics)
CASE_FIGURES = ("cases", "resolved", "mtta_seconds", "mttr_seconds", "sla_breach_rate", "reopen_rate")
OVERALL = (
    *CASE_FIGURES,
    "fcr_rate",
    "followups",
    "followups_answered",
    "post_resolution_csat",
    "post_resolution_nps",
    "recovery_rate",
    "followup_on_time_rate",
)
GROUP_FIGURES = OVERALL[:7]  # cases … fcr_rate


def _cell(value):
    return "" if value is None else value


def csv_text(header, rows) -> str:
    """CSV text with the BOM (spreadsheet programs then read UTF-8, Chinese included)
    and CRLF line ends, as every CSV download of the console is written."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return "\ufeff" + out.getvalue()


def overall(figures: dict, t) -> tuple[list, list[list]]:
    cases = figures["cases"]["overall"]
    rows = [[t("dash.alerts"), figures["alerts"]["total"]]]
    rows += [[t("dash.csv." + key), _cell(cases.get(key))] for key in OVERALL]
    return [t("dash.csv.figure"), t("dash.csv.value")], rows


def scores(figures: dict, t) -> tuple[list, list[list]]:
    trend = figures["scores"]
    if not trend["available"]:
        raise HttpError(503, f"{t('dash.not_available')}: {trend['reason']}")
    header = [t("dash.csv.bucket_start"), "NPS", t("dash.csv.nps_answers"), "CSAT"]
    header += [t("dash.csv.csat_answers"), "CES", t("dash.csv.ces_answers")]
    rows = [
        [
            bucket["start"][:10],
            _cell(bucket["nps"]["score"]),
            bucket["nps"]["count"],
            _cell(bucket["csat"]["avg"]),
            bucket["csat"]["count"],
            _cell(bucket["ces"]["avg"]),
            bucket["ces"]["count"],
        ]
        for bucket in trend["buckets"]
    ]
    return header, rows


def alerts_by_level(figures: dict, t) -> tuple[list, list[list]]:
    by_level = figures["alerts"]["by_level"]
    return [t("dash.csv.level"), t("dash.alerts")], [[t("level." + lv), by_level.get(lv, 0)] for lv in LEVELS]


def alerts_by_rule(figures: dict, t) -> tuple[list, list[list]]:
    ranked = sorted(figures["alerts"]["by_rule"].items(), key=lambda kv: (-kv[1], str(kv[0])))
    return [t("dash.csv.rule"), t("dash.alerts")], [[rule, n] for rule, n in ranked]


def _cases_by(group: str):
    def table(figures: dict, t) -> tuple[list, list[list]]:
        name = t("dash.touchpoint") if group == "by_touchpoint" else t("dash.csv.team")
        rows = []
        for g in figures["cases"][group]:
            key = g["key"]
            shown = label(t, "touchpoint", key) if key and group == "by_touchpoint" else key or t("dash.none")
            rows.append([shown] + [_cell(g.get(f)) for f in GROUP_FIGURES])
        return [name] + [t("dash.csv." + f) for f in GROUP_FIGURES], rows

    return table


def aspects(figures: dict, t, touchpoint_codes: bool = False) -> tuple[list, list[list]]:
    """Aspects per touchpoint; ``touchpoint_codes``: touchpoints as their codes, not
    their names (``/dashboard/aspects.csv``, which integrations read)."""
    table = figures["aspects"]
    if not table["available"]:
        raise HttpError(503, f"{t('dash.not_available')}: {table['reason']}")
    codes = table["aspects"]
    header = [t("dash.touchpoint"), t("dash.feedback"), t("dash.comments")]
    header += [t("aspect." + c) for c in codes]

    def touchpoint(code):
        if code is None:
            return t("dash.none")
        return code if touchpoint_codes else label(t, "touchpoint", code)

    rows = [
        [touchpoint(row["touchpoint"]), row["feedback"], row["comments"]]
        + [row["aspects"].get(c, 0) for c in codes]
        for row in table["touchpoints"]
    ]
    return header, rows


BUILDERS = {
    "overall": overall,
    "scores": scores,
    "alerts_by_level": alerts_by_level,
    "alerts_by_rule": alerts_by_rule,
    "cases_by_team": _cases_by("by_team"),
    "cases_by_touchpoint": _cases_by("by_touchpoint"),
    "aspects": aspects,
}
TABLES = tuple(BUILDERS)  # in the order the page links them


def as_csv(figures: dict, table: str, t) -> str:
    """``table`` of the dashboard's ``figures`` as CSV text (with the BOM)."""
    return csv_text(*BUILDERS[table](figures, t))
