"""The 体验档案 page on the running stack: 30/90-day scores with charts, contacts per
channel, top words, a labelled, paged timeline; an admin's merge, export and erase,
each confirmed and audited (the forms and the API)."""

from __future__ import annotations

import json

from tests.conftest import wait_until
from tests.e2e.gateway_stack import csrf_of, feedback, gateway, profile_or_none  # noqa: F401 - the fixture


def seed(gw):
    days = ("2026-11-20", "2026-11-25", "2026-12-01")
    events = [
        feedback(f"p-{n}", nps=nps, customer="C42", text=text, occurred_at=f"{day}T10:00:00+08:00")
        for n, (nps, day, text) in enumerate(
            zip((2, 6, 9), days, ("快递太慢了", "快递还是慢", "这次很快"), strict=True)
        )
    ]
    events.append(feedback("p-other", nps=8, customer="C77", text="还行"))
    assert gw.api("integration", "POST", "/api/v1/feedback", json=events).status_code == 202

    def counted(customer, n):
        return (profile_or_none(gw, customer) or {}).get("feedback_count") == n

    wait_until(lambda: counted("C42", 3), message="the profile")
    wait_until(lambda: counted("C77", 1), message="the other customer's")


def test_the_profile_page_shows_scores_contacts_words_and_a_paged_timeline(gateway):  # noqa: F811
    seed(gateway)
    s = gateway.login("owner")
    page = s.get(gateway.url + "/customers/C42").text
    assert 'id="score-nps"' in page and 'id="figure-score-nps"' in page and "NPS（近 90 天）" in page
    assert "近 30 天均值" in page and "微信" in page and "快递" in page  # a top word
    assert "物流配送 × 2" in page.split('id="aspects-last_90d"')[1][:200]  # 快递太慢了, 快递还是慢
    assert "客户反馈" in page and ">feedback<" not in page and ">wechat<" not in page
    assert 'id="profile-admin"' not in page  # an owner is not an admin
    first = s.get(gateway.url + "/customers/C42?timeline_limit=2").text
    assert 'id="timeline-older"' in first and 'id="timeline-newer"' not in first
    assert "1–2 /" in first
    older = s.get(gateway.url + "/customers/C42?timeline_limit=2&timeline_skip=2").text
    assert 'id="timeline-newer"' in older and "3–" in older


def test_an_admin_merges_exports_and_erases_with_confirmation_and_audit(gateway):  # noqa: F811
    seed(gateway)
    admin = gateway.login("admin")
    page = admin.get(gateway.url + "/customers/C42").text
    assert 'id="form-merge"' in page and 'id="form-erase"' in page
    # a merge without the confirmation is refused naming the field; nothing merged
    refused = admin.post(
        gateway.url + "/customers/C42/merge",
        data={"merged": "C77", "reason": "same phone", "csrf_token": csrf_of(page)},
        allow_redirects=False,
    )
    assert refused.status_code == 400 and "form.confirm" in refused.text
    merged = admin.post(
        gateway.url + "/customers/C42/merge",
        data={"merged": "C77", "reason": "same phone", "confirm": "on", "csrf_token": csrf_of(page)},
        allow_redirects=False,
    )
    assert merged.status_code == 303 and merged.headers["Location"].endswith("?done=merged")
    after = admin.get(gateway.url + "/customers/C42?done=merged").text
    assert "Merged; the merge is audited." in after and "C77" in after  # the admin reads English
    # agents and owners cannot merge, export or erase
    assert gateway.api("owner", "POST", "/api/v1/profiles/C42/erase", json={}).status_code == 403
    assert gateway.api("agent", "GET", "/api/v1/profiles/C42/export").status_code == 403
    exported = admin.get(gateway.url + "/customers/C42/export")
    assert exported.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(exported.content)
    assert [a["kind"] for a in data["audit"]] == ["merge", "export"] and data["audit"][1]["by"] == "root"
    assert data["aliases"]["merged_ids"] == ["C77"]
    wrong = gateway.api(
        "admin", "POST", "/api/v1/profiles/C42/erase", json={"request_ref": "DSR-1", "confirm": "C4"}
    )
    assert wrong.status_code == 400 and wrong.json()["error"]["errors"][0]["field"] == "body.confirm"
    erased = gateway.api(
        "admin", "POST", "/api/v1/profiles/C42/erase", json={"request_ref": "DSR-1", "confirm": "C42"}
    )
    assert erased.status_code == 200 and set(erased.json()["customer_ids"]) == {"C42", "C77"}
    gone = admin.get(gateway.url + "/customers/C42").text
    assert "personal data was erased on request" in gone and "王芳" not in gone
    audit = gateway.api("admin", "GET", "/api/v1/profiles/C42/export").json()["audit"]
    assert [a["kind"] for a in audit] == ["merge", "export", "erase", "export"]
