"""From the profiles service's answer to a customer's addresses per channel, and the
settings that map purposes to vendor template ids."""

import pytest

from services.notify.channels import CUSTOMER_CHANNELS
from services.notify.customers.contacts import contact_from, valid_zone
from services.notify.dependencies import pairs

CHANNELS = {name: cls({}) for name, cls in CUSTOMER_CHANNELS.items()}


def test_each_channel_takes_the_address_its_vendor_needs():
    # profiles.customer_contact's answer (services/profiles/queries.py)
    answer = {
        "customer_id": "C-new",
        "known": True,
        "erased": False,
        "phone": "13800138000",
        "email": None,
        "wechat_openid": "oC-1",
        "timezone": "Europe/Berlin",
        "name": "王芳",
        "fatigue": {"feedback": 2, "outbound": 1, "contacts": 3},
    }
    contact = contact_from(answer, CHANNELS)
    assert contact.addresses == {"sms": "13800138000", "wechat_oa": "oC-1"}
    assert (contact.customer_id, contact.timezone, contact.name) == ("C-new", "Europe/Berlin", "王芳")
    assert contact.recent_feedback == 2  # notify counts its own sends from its ledger


def test_an_erased_or_unknown_customer_has_no_address():
    erased = contact_from({"customer_id": "C1", "known": True, "erased": True}, CHANNELS)
    assert erased.erased and erased.addresses == {}
    unknown = contact_from({"customer_id": "C2", "known": False, "erased": False}, CHANNELS)
    assert not unknown.known and unknown.addresses == {}


def test_a_zone_name_that_is_no_zone_counts_as_none():
    assert valid_zone("Asia/Kathmandu") == "Asia/Kathmandu"
    assert valid_zone("Mars/Olympus") is None and valid_zone("") is None and valid_zone(8) is None
    assert valid_zone("../../etc/passwd") is None


def test_template_id_settings_are_key_value_pairs_and_a_bad_one_is_named():
    assert pairs(" followup_survey.zh-CN=SMS_1, case_reply.en=SMS_2 ,", "X") == {
        "followup_survey.zh-CN": "SMS_1",
        "case_reply.en": "SMS_2",
    }
    assert pairs("", "X") == {}
    with pytest.raises(ValueError, match="CUSTOMER_SMS_TEMPLATES: .*'followup_survey'"):
        pairs("followup_survey", "CUSTOMER_SMS_TEMPLATES")
