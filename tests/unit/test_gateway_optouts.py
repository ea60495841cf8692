"""The opt-out parts of the gateway (services/gateway/optouts.py) on fakes of the notify
service: the profile page's status per channel, and what each act asks notify."""

from types import SimpleNamespace

import pytest
from nameko.exceptions import RpcTimeout

from services.gateway import optouts
from services.gateway.errors import HttpError

pytestmark = pytest.mark.unit

USER = {"id": "zhao.min"}


class Notify:
    def __init__(self, consent=None, fail=None):
        self.calls, self.consent, self.fail = [], consent or {"opt_out": {}, "history": []}, fail

    def get_customer_consent(self, customer_id):
        if self.fail:
            raise self.fail
        return self.consent

    def set_customer_opt_out(self, *args):
        self.calls.append(("set", args))
        return {"ok": True}

    def withdraw_customer_opt_out(self, *args):
        self.calls.append(("withdraw", args))
        return {"ok": True}


def services(notify):
    return SimpleNamespace(notify=notify)


def test_the_profile_shows_each_channel_opted_out_or_not():
    entry = {"opted_out": True, "by": "li.na", "at": "2026-12-01T02:00:00+00:00", "reason": "电话要求"}
    consent = {"opt_out": {"sms": entry, "email": {"opted_out": False, "by": "x"}}}
    shown = optouts.status(services(Notify(consent)), "C1")
    assert shown == {
        "available": True,
        "channels": {"all": None, "sms": entry, "email": None, "wechat_oa": None},
    }


def test_the_profile_says_when_notify_does_not_answer():
    assert optouts.status(services(Notify(fail=RpcTimeout())), "C1") == {"available": False, "channels": {}}


def test_each_act_carries_who_and_why_and_bad_input_names_the_field():
    notify = Notify()
    status, _ = optouts.add(
        services(notify), USER, {"customer_id": "C1", "channel": "sms", "reason": "不要短信"}
    )
    assert status == 201 and notify.calls == [("set", ("C1", "sms", True, "zhao.min", "不要短信"))]
    optouts.remove(services(notify), USER, "C1", "sms", {"reason": "同意了"})
    assert notify.calls[-1] == ("withdraw", ("C1", "sms", "zhao.min", "同意了"))
    with pytest.raises(HttpError) as refused:
        optouts.add(services(notify), USER, {"customer_id": "C1", "channel": "sms", "reason": ""}, "form")
    assert refused.value.status == 400 and refused.value.errors[0]["field"] == "form.reason"
    with pytest.raises(HttpError) as refused:
        optouts.remove(services(notify), USER, "C1", "fax", {"reason": "x"})
    assert refused.value.errors[0]["field"] == "path.channel"
    assert len(notify.calls) == 2  # nothing asked of notify for a refused act
