"""Customers' opt-outs over HTTP on the whole running stack (the real notify service
keeps them): owners and admins list them (search by customer, by channel), record one
with a reason, withdraw one with a reason, each kept with who, when and why; agents may
not; bad input is refused naming the field. The console page does the same through its
forms in zh-CN and en, the profile page (体验档案) shows the customer's status per
channel with a link; and an opt-out recorded from the console stops a customer message
before any contact."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from nameko.standalone.events import event_dispatcher

from services.common.messaging import serialize
from services.notify.channels.testing import customer_request
from tests.conftest import wait_until
from tests.e2e.gateway_stack import csrf_of, gateway, seed_cases  # noqa: F401 - the fixture


def test_the_optout_api_records_lists_and_withdraws_each_audited(gateway):  # noqa: F811
    add = {"customer_id": "C7", "channel": "sms", "reason": "客户电话要求不再发短信"}
    assert gateway.api("agent", "POST", "/api/v1/optouts", json=add).status_code == 403
    assert gateway.api("agent", "GET", "/api/v1/optouts").status_code == 403
    made = gateway.api("owner", "POST", "/api/v1/optouts", json=add)
    assert made.status_code == 201, made.text
    assert made.json()["opt_out"]["sms"]["by"] == "zhao.min"
    assert (
        gateway.api(
            "admin", "POST", "/api/v1/optouts", json={**add, "customer_id": "C70", "channel": "all"}
        ).status_code
        == 201
    )
    assert (
        gateway.api("owner", "POST", "/api/v1/optouts", json={**add, "customer_id": "D1"}).status_code == 201
    )

    bad = gateway.api("owner", "POST", "/api/v1/optouts", json={**add, "channel": "fax"})
    assert bad.status_code == 400 and "body.channel" in bad.text
    no_reason = gateway.api("owner", "POST", "/api/v1/optouts", json={"customer_id": "C7", "channel": "sms"})
    assert no_reason.status_code == 400 and "body.reason" in no_reason.text
    assert (
        "body.customer_id"
        in gateway.api("owner", "POST", "/api/v1/optouts", json={**add, "customer_id": "$x"}).text
    )

    listed = gateway.api("owner", "GET", "/api/v1/optouts?customer=C7").json()
    assert [(r["customer_id"], r["channel"]) for r in listed["items"]] == [("C7", "sms"), ("C70", "all")]
    assert listed["items"][0]["reason"] == "客户电话要求不再发短信" and listed["items"][0]["at"]
    sms = gateway.api("owner", "GET", "/api/v1/optouts?channel=sms&limit=1").json()
    assert [r["customer_id"] for r in sms["items"]] == ["C7"] and sms["next"]
    assert gateway.api("owner", "GET", sms["next"]).json()["items"][0]["customer_id"] == "D1"
    wrong = gateway.api("owner", "GET", "/api/v1/optouts?channel=fax")
    assert wrong.status_code == 400 and "query.channel" in wrong.text

    path = "/api/v1/optouts/C7/sms/remove"
    assert gateway.api("agent", "POST", path, json={"reason": "x"}).status_code == 403
    assert "body.reason" in gateway.api("owner", "POST", path, json={}).text
    assert (
        "path.channel"
        in gateway.api("owner", "POST", "/api/v1/optouts/C7/fax/remove", json={"reason": "x"}).text
    )
    gone = gateway.api("admin", "POST", path, json={"reason": "客户重新同意接收"})
    assert gone.status_code == 200, gone.text
    assert gone.json()["opt_out"]["sms"]["opted_out"] is False
    assert gateway.api("admin", "POST", path, json={"reason": "again"}).status_code == 404  # none in force
    history = gateway.api("owner", "GET", "/api/v1/optouts/C7").json()["history"]
    assert [(h["opted_out"], h["by"], h["reason"]) for h in history] == [
        (True, "zhao.min", "客户电话要求不再发短信"),
        (False, "root", "客户重新同意接收"),
    ]
    assert [r["customer_id"] for r in gateway.api("owner", "GET", "/api/v1/optouts").json()["items"]] == [
        "C70",
        "D1",
    ]


def test_the_console_records_and_withdraws_an_optout_and_the_profile_shows_it(gateway):  # noqa: F811
    seed_cases(gateway)  # C42 has a profile
    owner = gateway.login("owner")
    page = owner.get(gateway.url + "/optouts")
    assert page.status_code == 200 and "客户退订（停止联系）" in page.text and 'id="nav-optouts"' in page.text
    token = csrf_of(page.text)
    refused = owner.post(
        gateway.url + "/optouts", data={"csrf_token": token, "customer_id": "C42", "channel": "email"}
    )
    assert refused.status_code == 400 and "form.reason" in refused.text
    done = owner.post(
        gateway.url + "/optouts",
        data={"csrf_token": token, "customer_id": "C42", "channel": "email", "reason": "投诉后要求别发邮件"},
        allow_redirects=False,
    )
    assert done.status_code == 303
    listed = owner.get(gateway.url + done.headers["Location"]).text
    assert "退订已登记" in listed and "投诉后要求别发邮件" in listed and "zhao.min" in listed
    assert re.search(r'data-customer="C42" data-channel="email"', listed)
    history = listed.split('id="optout-history"')[1]
    assert "邮件" in history and "退订" in history

    profile = owner.get(gateway.url + "/customers/C42").text
    section = profile.split('id="optouts"')[1].split("</section>")[0]
    assert re.search(r'id="optout-email"><td>邮件</td>\s*<td class="opted-out">已退订', section)
    assert re.search(r'id="optout-sms"><td>短信</td>\s*<td>可联系', section)
    assert 'href="/optouts?customer=C42"' in section
    agent_view = gateway.login("agent").get(gateway.url + "/customers/C42").text
    assert "已退订" in agent_view and 'id="optouts-manage"' not in agent_view  # seen, not managed
    assert gateway.login("agent").get(gateway.url + "/optouts").status_code == 403

    admin = gateway.login("admin")  # an English reader
    english = admin.get(gateway.url + "/optouts?customer=C42").text
    assert "Opt-outs in force" in english and "e-mail" in english and "opted out" in english
    no_reason = admin.post(
        gateway.url + "/optouts/C42/email/remove",
        data={"csrf_token": csrf_of(english)},
        allow_redirects=False,
    )
    assert no_reason.status_code == 400 and "form.reason" in no_reason.text
    withdrawn = admin.post(
        gateway.url + "/optouts/C42/email/remove",
        data={"csrf_token": csrf_of(english), "reason": "customer agreed again"},
        allow_redirects=False,
    )
    assert withdrawn.status_code == 303
    after = admin.get(gateway.url + withdrawn.headers["Location"]).text
    assert "The opt-out is withdrawn." in after and "No opt-out in force." in after
    assert "customer agreed again" in after.split('id="optout-history"')[1] and "withdrawn" in after
    assert gateway.rpc.notify.get_customer_consent("C42")["opt_out"]["email"]["by"] == "root"


def test_an_optout_recorded_in_the_console_stops_a_customer_message(gateway):  # noqa: F811
    seed_cases(gateway)  # C42 has a profile with a phone
    owner = gateway.login("owner")
    token = csrf_of(owner.get(gateway.url + "/optouts").text)
    done = owner.post(
        gateway.url + "/optouts",
        data={"csrf_token": token, "customer_id": "C42", "channel": "all", "reason": "不要再联系"},
        allow_redirects=False,
    )
    assert done.status_code == 303
    payload = customer_request(
        "followup_survey", message_id="optout-console:survey", customer_id="C42", channels=["sms"]
    )
    payload["requested_at"] = datetime.now(UTC)
    event_dispatcher()(
        "cases", "customer_message_requested", serialize("customer_message_requested", payload)
    )

    def refused():
        try:
            found = gateway.rpc.notify.get_customer_message("optout-console:survey")
        except Exception:
            return None
        return found if found["status"] == "refused" else None

    message = wait_until(refused, timeout=30, message="the message refused")
    assert message["reason"] == "opted_out"
