"""The profile page (体验档案) on the running stack: 30/90-day scores with their trend,
contacts per channel, what the comments are about and their top terms, a paged
timeline with translated labels and links to the cases; the API pages the timeline
the same way (``timeline_offset``)."""

from __future__ import annotations

import re

from tests.conftest import wait_until
from tests.e2e.gateway_stack import feedback, gateway  # noqa: F401 - the fixture
from tests.e2e.test_console_codes import visible_text

EVENTS = [
    {**feedback("p-1", nps=9, customer="P1", text="安装很快"), "occurred_at": "2026-11-20T10:00:00+08:00"},
    {**feedback("p-2", nps=8, customer="P1", text="快递准时"), "occurred_at": "2026-11-22T10:00:00+08:00"},
    {
        **feedback("p-3", nps=2, customer="P1", text="快递三天都没到"),
        "channel": "phone",
        "occurred_at": "2026-11-25T10:00:00+08:00",
    },
]


def test_the_profile_page_shows_scores_contacts_terms_and_a_paged_timeline(gateway):  # noqa: F811
    assert gateway.api("integration", "POST", "/api/v1/feedback", json=EVENTS).status_code == 202
    wait_until(lambda: gateway.rpc.cases.list_cases(customer="P1"), message="the case")
    entries = lambda: gateway.rpc.profiles.get_profile("P1")["timeline"]  # noqa: E731
    wait_until(lambda: len(entries()) >= 5, message="feedback, alert and case on the timeline")
    total = len(entries())
    s = gateway.login("agent")

    page = s.get(gateway.url + "/customers/P1").text
    text = visible_text(page)
    assert re.search(r"NPS\s+2\b", text)  # the latest score, then the 30- and 90-day averages
    assert "近 30 天平均" in text and "近 90 天平均" in text
    contacts = visible_text(page.split('id="contacts"')[1].split("</section>")[0])
    assert re.search(r"微信\s+2\b", contacts) and re.search(r"电话\s+1\b", contacts)
    assert "物流配送 ×" in text  # what the comments are about, translated
    assert 'id="top-terms"' in page and "快递 × 2" in text
    assert "客户反馈" in text and "创建工单" in text  # timeline kinds translated
    case_id = gateway.rpc.cases.list_cases(customer="P1")[0]["_id"]
    assert f'href="/cases/{case_id}"' in page  # timeline entries link their case

    first = s.get(gateway.url + "/customers/P1?timeline_limit=2").text
    assert first.count('<tr class="timeline-') == 2 and 'id="timeline-newer"' not in first
    older = re.search(r'id="timeline-older" href="([^"]+)"|href="([^"]+)" id="timeline-older"', first)
    link = (older.group(1) or older.group(2)).replace("&amp;", "&")
    assert link == "/customers/P1?timeline_limit=2&timeline_offset=2"
    second = s.get(gateway.url + link).text
    assert second.count('<tr class="timeline-') == min(2, total - 2) and 'id="timeline-newer"' in second

    api = gateway.api("agent", "GET", "/api/v1/profiles/P1?timeline_limit=2&timeline_offset=2").json()
    assert [e["_id"] for e in api["timeline"]] == [e["_id"] for e in entries()[2:4]]
    bad = gateway.api("agent", "GET", "/api/v1/profiles/P1?timeline_offset=-1")
    assert bad.status_code == 400 and bad.json()["error"]["errors"][0]["field"] == "query.timeline_offset"
