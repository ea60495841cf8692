"""A local Alibaba Cloud SMS endpoint: checks ``SendSms`` as the vendor does (the
signature, the common parameters, the timestamp's 15-minute window, nonce reuse, the
template's variables, the number) and answers in the vendor's JSON."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from datetime import UTC, datetime
from urllib.parse import parse_qsl, quote

from services.notify.channels.testing import Answer, Receiver, Request

ACCESS_KEY_ID = "LTAI-test-id"
ACCESS_KEY_SECRET = "test-secret-0123456789"
SIGN_NAME = "体验中心"
# TemplateCode -> the approved wording, with ${var} placeholders (as registered at the vendor)
TEMPLATES = {
    "SMS_900001": "您好${name}，关于工单${case}，请花一分钟评价我们的处理：${link} 或回复“${code} 分数”",
    "SMS_900002": 'Hi ${name}, about case ${case}: rate our help at ${link} or reply "${code} <score>"',
    "SMS_900003": "您好${name}，工单${case}的回复：${reply}",
    "SMS_900004": "Hi ${name}, a reply on case ${case}: ${reply}",
}
CONFIG_TEMPLATES = {
    "followup_survey.zh-CN": "SMS_900001",
    "followup_survey.en": "SMS_900002",
    "case_reply.zh-CN": "SMS_900003",
    "case_reply.en": "SMS_900004",
    "playbook_reply.zh-CN": "SMS_900003",
    "playbook_reply.en": "SMS_900004",
}
REQUIRED = (
    "AccessKeyId",
    "Action",
    "Format",
    "PhoneNumbers",
    "SignName",
    "SignatureMethod",
    "SignatureNonce",
    "SignatureVersion",
    "Signature",
    "TemplateCode",
    "Timestamp",
    "Version",
)


def _expected_signature(fields: list[tuple[str, str]], secret: str) -> str:
    pairs = sorted((k, v) for k, v in fields if k != "Signature")
    query = "&".join(quote(k, safe="~") + "=" + quote(v, safe="~") for k, v in pairs)
    text = "POST&%2F&" + quote(query, safe="~")
    mac = hmac.new((secret + "&").encode(), text.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


class FakeAliyunSms(Receiver):
    def __init__(self):
        super().__init__()
        self.nonces: set[str] = set()
        self.sent: list[dict] = []  # {"phone", "content", "template", "params", "out_id", "biz_id"}

    @property
    def endpoint(self) -> str:
        return self.base_url + "/"

    def _error(self, status: int, code: str, message: str) -> Answer:
        return Answer(status, {"RequestId": "fake", "Code": code, "Message": message})

    def handle(self, request: Request) -> Answer:
        if request.headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
            return self._error(400, "InvalidParameter", "form-encoded body expected")
        fields = parse_qsl(request.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        form = dict(fields)
        if len(form) != len(fields):
            return self._error(400, "InvalidParameter", "a parameter is repeated")
        absent = [k for k in REQUIRED if not form.get(k)]
        if absent:
            return self._error(400, "MissingParameter", f"missing {', '.join(absent)}")
        if form["AccessKeyId"] != ACCESS_KEY_ID:
            return self._error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if (form["SignatureMethod"], form["SignatureVersion"]) != ("HMAC-SHA1", "1.0"):
            return self._error(400, "InvalidParameter", "signature method")
        if not hmac.compare_digest(form["Signature"], _expected_signature(fields, ACCESS_KEY_SECRET)):
            return self._error(400, "SignatureDoesNotMatch", "Specified signature is not matched.")
        stamp = datetime.strptime(form["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs(stamp.timestamp() - time.time()) > 900:
            return self._error(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        if form["SignatureNonce"] in self.nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces.add(form["SignatureNonce"])
        if (form["Action"], form["Version"], form["Format"]) != ("SendSms", "2017-05-25", "JSON"):
            return self._error(400, "InvalidParameter", "action, version or format")
        if form["SignName"] != SIGN_NAME:
            return self._error(200, "isv.SMS_SIGNATURE_ILLEGAL", "signature name not approved")
        if not re.fullmatch(r"1\d{10}|00\d{6,15}", form["PhoneNumbers"]):
            return self._error(200, "isv.MOBILE_NUMBER_ILLEGAL", "illegal mobile number")
        template = TEMPLATES.get(form["TemplateCode"])
        if template is None:
            return self._error(200, "isv.SMS_TEMPLATE_ILLEGAL", "template not approved")
        params = json.loads(form.get("TemplateParam") or "{}")
        wanted = set(re.findall(r"\$\{(\w+)\}", template))
        if set(params) != wanted or not all(isinstance(v, str) for v in params.values()):
            return self._error(200, "isv.TEMPLATE_MISSING_PARAMETERS", f"variables {sorted(wanted)} expected")
        content = re.sub(r"\$\{(\w+)\}", lambda m: params[m[1]], template)
        biz_id = f"{len(self.sent) + 1:06d}^0"
        self.sent.append(
            {
                "phone": form["PhoneNumbers"],
                "content": f"【{form['SignName']}】{content}",
                "template": form["TemplateCode"],
                "params": params,
                "out_id": form.get("OutId"),
                "biz_id": biz_id,
            }
        )
        return Answer(200, {"RequestId": "fake", "Code": "OK", "Message": "OK", "BizId": biz_id})

    def success(self, answer: Answer) -> bool:
        return json.loads(answer.encoded()).get("Code") == "OK"
