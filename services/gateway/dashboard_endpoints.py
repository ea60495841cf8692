"""The dashboard's routes (``GatewayService`` mixes them in): the page, its tables as CSV;
the figures are gathered in ``dashboard.py``, the CSV tables built in ``dashboard_csv.py``."""

from __future__ import annotations

from typing import Any

from services.gateway import dashboard, dashboard_csv
from services.gateway.entrypoints import route
from services.gateway.i18n import translator
from services.gateway.inputs import query
from services.gateway.views import csv_download, render


class DashboardEndpoints:
    """The dashboard routes, mixed into ``GatewayService`` (which provides ``services``)."""

    services: Any

    @route("console.dashboard")
    def dashboard_page(self, request, principal):
        figures = dashboard.page_figures(self.services, query(request, "console.dashboard"))
        charts = dashboard.charts(figures, translator(principal.language))
        tables = dashboard_csv.TABLES
        return render("dashboard.html", principal, figures=figures, charts=charts, tables=tables)

    @route("console.dashboard_aspects_csv")
    def dashboard_aspects_csv(self, request, principal):
        q = query(request, "console.dashboard_aspects_csv")
        body = dashboard.aspects_csv(self.services, q, translator(principal.language))
        return csv_download(body, "aspects-by-touchpoint.csv")

    @route("console.dashboard_csv")
    def dashboard_csv(self, request, principal):
        """One of the dashboard's tables (``table``) for the page's period, as CSV."""
        q = query(request, "console.dashboard_csv")
        figures = dashboard.page_figures(self.services, q)
        body = dashboard_csv.as_csv(figures, q["table"], translator(principal.language))
        return csv_download(body, f"dashboard-{q['table']}-{figures['first_day']}-{figures['last_day']}.csv")
