"""The role boards' routes (``GatewayService`` mixes them in); the figures are
gathered in ``boards.py``, the page drawn by ``templates/board.html``."""

from __future__ import annotations

from typing import Any

from services.gateway import boards
from services.gateway.charts import bar_chart, line_chart
from services.gateway.entrypoints import route
from services.gateway.i18n import translator
from services.gateway.inputs import query
from services.gateway.views import render


def board_charts(data: dict, t) -> dict:
    """The journey board's charts, titled in the page's language."""
    if data["board"] != "journey":
        return {}
    stages = data["stages"]
    label = {s["touchpoint"]: t("touchpoint." + s["touchpoint"]) for s in stages}
    weeks = stages[0]["weeks"] if stages else []
    return {
        "nps": bar_chart(
            "chart-journey-nps",
            t("board.nps_by_touchpoint"),
            [(label[s["touchpoint"]], s["nps"]) for s in stages],
        ),
        "alerts": bar_chart(
            "chart-journey-alerts",
            t("board.alerts_by_touchpoint"),
            [(label[s["touchpoint"]], s["alerts"]) for s in stages],
        ),
        "trend": line_chart(
            "chart-journey-trend",
            t("board.nps_trend_by_touchpoint"),
            [w["start"] for w in weeks],
            {label[s["touchpoint"]]: [w["nps"] for w in s["weeks"]] for s in stages},
            bounds=(-100, 100),
        ),
        "causes": bar_chart(
            "chart-journey-causes",
            t("board.root_causes"),
            [(t("root_cause." + r["root_cause"]), r["cases"]) for r in data["root_causes"]],
        ),
    }


class BoardEndpoints:
    """The board routes, mixed into ``GatewayService`` (which provides ``services``)."""

    services: Any

    @route("boards.get")
    def board(self, request, principal, board):
        q = query(request, "boards.get")
        data = boards.gather(self.services, principal.user, board, q)
        return boards.as_csv(data, q.get("table")) if q["format"] == "csv" else data

    @route("console.board")
    def board_page(self, request, principal, board):
        q = query(request, "console.board")
        data = boards.gather(self.services, principal.user, board, q)
        if q["format"] == "csv":
            return boards.as_csv(data, q.get("table"))
        charts = board_charts(data, translator(principal.language))
        return render("board.html", principal, data=data, charts=charts, tables=boards.TABLES[board])
