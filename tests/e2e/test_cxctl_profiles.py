"""cxctl profile … against the running services."""

import json

from tests.conftest import wait_until
from tests.e2e.test_cxctl import run
from tests.e2e.test_pipeline import feedback, publish, stack  # noqa: F401 - the stack fixture

NOW = "2026-11-23T12:00:00+00:00"


def test_cxctl_profile_commands(stack, cx_config):  # noqa: F811
    uri = cx_config["AMQP_URI"]
    other = {"id": "C43", "name": "王芳", "phone": "+86 138-0013-8000", "email": " Fang@Example.com"}
    publish(
        uri,
        feedback(
            event_id="c-1", nps=9, occurred_at="2026-10-01T10:00:00+08:00", attributes={"survey_id": "S"}
        ),
        feedback(event_id="c-2", nps=3, occurred_at="2026-11-20T10:00:00+08:00"),
        feedback(event_id="c-3", nps=8, customer=other, occurred_at="2026-11-21T10:00:00+08:00"),
    )
    # 3 feedback entries, the alert, the case opened and its open→assigned milestone
    wait_until(lambda: stack.profiles.stats()["timeline_entries"] >= 6, message="the profiles")
    wait_until(lambda: stack.profiles.get_profile("C42")["open_cases"], message="the case")

    code, out = run(uri, "profile", "show", "C42", "--now", NOW)
    assert code == 0, out
    assert "NPS  last 3 (2026-11-20)  30d 3 (n=1)  90d 6 (n=2)" in out and "wechat 2" in out
    assert "未结工单 open case: CASE-" in out
    # the same comment on 10-01 (90 days only) and 11-20
    assert (
        "评论方面 aspects: delivery×2, staff_attitude×2  "
        "(30d: delivery×1, staff_attitude×1; 90d: delivery×2, staff_attitude×2)"
    ) in out
    code, out = run(uri, "profile", "search", "--phone", "13800138000", "--json")
    assert sorted(r["_id"] for r in json.loads(out)) == ["C42", "C43"]
    code, out = run(uri, "profile", "search", "--email", "FANG@example.com")
    assert "C43" in out and "C42" not in out
    code, out = run(uri, "profile", "segment", "detractors_with_open_case")
    assert "C42" in out and "C43" not in out
    code, out = run(
        uri, "profile", "segment", "no_contact", "--days", "30", "--now", "2027-01-01T00:00:00+00:00"
    )
    assert "C42" in out and "C43" in out
    code, out = run(uri, "profile", "fatigue", "C42", "--days", "90", "--limit", "2", "--now", NOW)
    assert "2 contacts (1 surveys) in 90 days" in out and "over the limit" in out
    code, out = run(
        uri,
        "profile",
        "trend",
        "--since",
        "2026-11-16T00:00:00+08:00",
        "--until",
        "2026-11-23T00:00:00+08:00",
    )
    assert code == 0 and "2026-11-20  NPS    -100 (n=1, +0 =0 -1)" in out, out
    assert "total 合计    NPS     -50 (n=2, +0 =1 -1)" in out
    code, out = run(uri, "profile", "words", "C42", "--since", "3650d")
    assert code == 0 and out.startswith("C42: 2 comments") and "快递" in out, out
    code, out = run(uri, "profile", "words", "--since", "3650d", "--json")
    assert json.loads(out)["comments"] == 3
    code, out = run(uri, "profile", "trend", "--since", "2026-11-16T00:00:00+08:00", "--until", "x")
    assert code == 1 and "until: Not a valid" in out
    code, out = run(uri, "profile", "merge", "C42", "C43", "--by", "li.na", "--reason", "same phone")
    assert code == 0 and "merged C43 into C42 (1 timeline entries moved)" in out
    code, out = run(uri, "profile", "merge", "C43", "C42", "--by", "li.na", "--reason", "oops")
    assert code == 1 and "BadRequest" in out and "survivor: C43 was merged into C42" in out
    code, out = run(uri, "profile", "recount", "C43")
    assert code == 0 and "nothing to repair on C42" in out, out
    code, out = run(uri, "profile", "export", "C43")
    dump = json.loads(out)
    assert dump["customer_id"] == "C42" and dump["audit"][0]["kind"] == "merge"
    kinds = sorted(e["kind"] for e in dump["timeline"])
    assert kinds == ["alert", "case_milestone", "case_opened", "feedback", "feedback", "feedback"], kinds
    code, out = run(uri, "profile", "erase", "C42", "--by", "dpo", "--request-ref", "DSR-1", "--yes")
    assert code == 0 and "erased C42" in out
    code, out = run(uri, "profile", "export", "C42")
    assert "王芳" not in out and "13800138000" not in out and "快递" not in out
    code, out = run(uri, "profile", "segment", "nps_drop", "--drop", "0")
    assert code == 1 and "drop: Must be greater than 0" in out
