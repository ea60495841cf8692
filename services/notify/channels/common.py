"""Small pieces several channels share: the link label, signatures, handle fields."""

from __future__ import annotations

import base64
import hashlib
import hmac

from marshmallow import fields, validate

LINK_LABEL = {"zh-CN": "查看工单", "en": "Open the case"}


def link_label(language: str) -> str:
    return LINK_LABEL.get(language, LINK_LABEL["en"])


def hmac_sha256_b64(key: str | bytes, message: str | bytes) -> str:
    key_b = key.encode("utf-8") if isinstance(key, str) else key
    msg_b = message.encode("utf-8") if isinstance(message, str) else message
    return base64.b64encode(hmac.new(key_b, msg_b, hashlib.sha256).digest()).decode("ascii")


def webhook_url(**kwargs) -> fields.Url:
    # require_tld=False: private deployments and the local test receivers use IPs
    return fields.Url(schemes={"http", "https"}, require_tld=False, **kwargs)


USER_ID = validate.Length(min=1, max=128)
