"""The dashboard's aspects per touchpoint, from what the profiles service recorded for
feedback posted through the API (real broker and store)."""

from __future__ import annotations

import csv
import io

from nameko import config

from cxctl.broker import wait_queues_idle
from tests.e2e.gateway_stack import feedback, gateway  # noqa: F401

COMMENTS = [
    ("a1", "delivery", "快递三天都没到"),
    ("a2", "delivery", "物流太慢，包裹还压坏了"),
    ("a3", "store", "店员态度很差"),
    ("a4", "store", None),  # a score without a comment
    ("a5", "billing", "账单多扣了钱，客服也不理"),
]


def post(gw):
    events = []
    for event_id, touchpoint, text in COMMENTS:
        event = feedback(event_id, nps=3, customer=f"A{event_id}", touchpoint=touchpoint)
        if text is None:
            event.pop("text")
        else:
            event["text"] = text
        events.append(event)
    r = gw.api("integration", "POST", "/api/v1/feedback", json=events)
    assert r.status_code == 202 and r.json()["accepted"] == len(events), r.text
    wait_queues_idle(config["AMQP_URI"], quiet=6, timeout=30)


def expected_rows(gw) -> dict:
    """Each touchpoint's aspects as the profiles service's own analysis reports them."""
    rows: dict = {}
    for event_id, touchpoint, text in COMMENTS:
        row = rows.setdefault(touchpoint, {"feedback": 0, "comments": 0, "aspects": {}})
        row["feedback"] += 1
        if text:
            row["comments"] += 1
            timeline = gw.rpc.profiles.get_profile(f"A{event_id}")
            assert timeline  # recorded
            for code in gw.rpc.alerts.analyze_text(text)["aspects"]:
                row["aspects"][code] = row["aspects"].get(code, 0) + 1
    return rows


def test_aspects_per_touchpoint_in_the_metrics_the_dashboard_and_its_csv(gateway):  # noqa: F811
    post(gateway)
    figures = gateway.api("owner", "GET", "/api/v1/metrics").json()["aspects"]
    assert figures["available"] is True
    by_touchpoint = {r["touchpoint"]: r for r in figures["touchpoints"]}
    want = expected_rows(gateway)
    assert {
        k: {f: v[f] for f in ("feedback", "comments", "aspects")} for k, v in by_touchpoint.items()
    } == want
    assert by_touchpoint["delivery"]["aspects"]["delivery"] == 2
    assert (
        by_touchpoint["store"]["aspects"] == {"staff_attitude": 1} and by_touchpoint["store"]["comments"] == 1
    )
    assert by_touchpoint["billing"]["aspects"]["billing"] == 1
    assert [r["touchpoint"] for r in figures["touchpoints"]][:1] == ["delivery"]  # the busiest first

    zh = gateway.login("owner").get(gateway.url + "/dashboard").text
    assert "各触点评论关注点" in zh and "物流配送" in zh and 'id="aspects-table"' in zh
    assert (
        '<tr data-touchpoint="store"><td>store</td>' in zh and '<td data-aspect="staff_attitude">1</td>' in zh
    )
    admin = gateway.login("admin")  # language en
    en = admin.get(gateway.url + "/dashboard").text
    assert "What comments were about, per touchpoint" in en and "Staff attitude" in en

    r = admin.get(gateway.url + "/dashboard/aspects.csv")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Touchpoint", "Feedback", "With a comment"] and "Delivery" in rows[0]
    store = next(row for row in rows if row[0] == "store")
    assert store[1:3] == ["2", "1"] and store[rows[0].index("Staff attitude")] == "1"
    zh_csv = gateway.login("owner").get(gateway.url + "/dashboard/aspects.csv").content.decode("utf-8-sig")
    assert zh_csv.startswith("触点,反馈数,含评论,物流配送")
    period = "since=2026-11-20&until=2026-11-19"
    assert admin.get(gateway.url + f"/dashboard/aspects.csv?{period}").status_code == 400
    assert (
        admin.get(gateway.url + "/dashboard/aspects.csv?since=2026-11-20T00:00:00%2B00:00").status_code == 400
    )
    later = "since=2999-01-01T00:00:00%2B00:00&until=2999-12-31T00:00:00%2B00:00"
    assert gateway.api("owner", "GET", f"/api/v1/metrics?{later}").json()["aspects"]["touchpoints"] == []


def csv_rows(session, url: str) -> list[list[str]]:
    r = session.get(url)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv"), r.text[:300]
    assert "attachment" in r.headers["Content-Disposition"]
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))


def test_every_table_of_the_dashboard_exports_as_csv_with_the_pages_figures(gateway):  # noqa: F811
    """Each table the page shows as a table or a chart downloads for the page's period,
    with the figures the services reported for that period (real broker and store)."""
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    post(gateway)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    first = today - timedelta(days=6)
    zone = ZoneInfo("Asia/Shanghai")
    window = {
        "since": datetime.combine(first, time(), zone).isoformat(),
        "until": datetime.combine(today + timedelta(days=1), time(), zone).isoformat(),
    }
    api = gateway.api("owner", "GET", "/api/v1/metrics", params=window).json()
    admin = gateway.login("admin")  # en
    page = admin.get(gateway.url + f"/dashboard?since={first}&until={today}").text
    links = {}
    for table in (
        "overall",
        "scores",
        "alerts_by_level",
        "alerts_by_rule",
        "cases_by_team",
        "cases_by_touchpoint",
        "aspects",
    ):
        anchor = f'id="csv-{table.replace("_", "-")}" href="'
        assert anchor in page, table
        links[table] = page.split(anchor, 1)[1].split('"', 1)[0].replace("&amp;", "&")
        assert f"since={first}" in links[table] and f"until={today}" in links[table]
    base = gateway.url
    overall = dict(csv_rows(admin, base + links["overall"])[1:])
    assert overall["Alerts"] == str(api["alerts"]["total"]) and int(overall["Alerts"]) >= 5
    assert overall["Cases"] == str(api["cases"]["overall"]["cases"])
    levels = csv_rows(admin, base + links["alerts_by_level"])
    assert levels[0] == ["Level", "Alerts"]
    assert sum(int(n) for _, n in levels[1:]) == api["alerts"]["total"]
    rules = csv_rows(admin, base + links["alerts_by_rule"])
    assert {rule: int(n) for rule, n in rules[1:]} == api["alerts"]["by_rule"]
    teams = csv_rows(admin, base + links["cases_by_team"])
    assert teams[0][:3] == ["Team", "Cases", "Resolved"]
    assert sum(int(row[1]) for row in teams[1:]) == api["cases"]["overall"]["cases"]
    touchpoints = csv_rows(admin, base + links["cases_by_touchpoint"])
    assert len(touchpoints) > 1
    zh_touchpoints = csv_rows(gateway.login("owner"), base + links["cases_by_touchpoint"])
    assert zh_touchpoints[0][0] == "触点" and "物流配送" in {row[0] for row in zh_touchpoints[1:]}  # no codes
    trend = csv_rows(admin, base + links["scores"])
    assert trend[0][:3] == ["Bucket start", "NPS", "NPS answers"] and len(trend) == 1 + 7  # a row a day
    assert sum(int(row[2]) for row in trend[1:]) == api["scores"]["total"]["nps"]["count"]
    aspects = csv_rows(admin, base + links["aspects"])
    assert aspects[0][:3] == ["Touchpoint", "Feedback", "With a comment"]
    zh = csv_rows(gateway.login("owner"), base + links["overall"])
    assert zh[0] == ["指标", "数值"] and zh[1][0] == "预警"
    bad = admin.get(base + f"/dashboard/export.csv?since={first}&until={today}&table=everything")
    assert bad.status_code == 400 and "table" in bad.text
