"""A local Tencent Cloud SMS endpoint: checks ``SendSms`` as the vendor does (the
TC3-HMAC-SHA256 Authorization header recomputed with the SecretKey, the X-TC-* headers,
the timestamp's five-minute window, the app, signature name and template, the number
set) and answers in the vendor's JSON (``Response.SendStatusSet`` or ``Response.Error``)."""

from __future__ import annotations

import hmac
import json
import re
import time
from datetime import UTC, datetime

from services.notify.channels.sms import tencent
from services.notify.channels.testing import Answer, Receiver, Request

SECRET_ID = "AKID-test-tencent"
SECRET_KEY = "tencent-test-key-0123456789"
SDK_APP_ID = "1400000001"
SIGN_NAME = "体验中心"
# TemplateId -> the approved wording with {1}, {2} … (the vendor's placeholders)
TEMPLATES = {
    "1800001": "您好{1}，关于工单{2}，请花一分钟评价我们的处理：{3} 或回复“{4} 分数”",
    "1800002": 'Hi {1}, about case {2}: rate our help at {3} or reply "{4} <score>"',
    "1800003": "您好{1}，工单{2}的回复：{3}",
    "1800004": "Hi {1}, a reply on case {2}: {3}",
}
CONFIG_TEMPLATES = {
    "followup_survey.zh-CN": "1800001",
    "followup_survey.en": "1800002",
    "case_reply.zh-CN": "1800003",
    "case_reply.en": "1800004",
    "playbook_reply.zh-CN": "1800003",
    "playbook_reply.en": "1800004",
}
AUTH = re.compile(
    r"^TC3-HMAC-SHA256 Credential=(?P<id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/sms/tc3_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)


class FakeTencentSms(Receiver):
    def __init__(self):
        super().__init__()
        self.sent: list[dict] = []  # {"phone", "content", "template", "params", "context", "serial_no"}

    @property
    def endpoint(self) -> str:
        return self.base_url + "/"

    @staticmethod
    def _error(code: str, message: str) -> Answer:
        return Answer(200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "fake"}})

    def _auth_problem(self, request: Request, headers: dict) -> Answer | None:
        found = AUTH.match(headers.get("authorization", ""))
        if found is None:
            return self._error("AuthFailure.InvalidAuthorization", "Authorization header malformed")
        if found["id"] != SECRET_ID:
            return self._error("AuthFailure.SecretIdNotFound", "The SecretId is not found")
        stamp = int(headers.get("x-tc-timestamp") or 0)
        if abs(stamp - time.time()) > 300:
            return self._error("AuthFailure.SignatureExpire", "Signature expired")
        if found["date"] != datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d"):
            return self._error("AuthFailure.SignatureFailure", "credential date is not the timestamp's")
        signed = found["signed"].split(";")
        lines = "".join(f"{name}:{headers.get(name, '').strip().lower()}\n" for name in signed)
        canonical = f"POST\n/\n\n{lines}\n{found['signed']}\n{tencent.sha256_hex(request.body)}"
        expected = tencent.tc3_signature(SECRET_KEY, tencent.string_to_sign(canonical, stamp), stamp)
        if not {"content-type", "host"} <= set(signed) or not hmac.compare_digest(expected, found["sig"]):
            return self._error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated"
            )
        return None

    def handle(self, request: Request) -> Answer:
        headers = {k.lower(): v for k, v in request.headers.items()}
        refused = self._auth_problem(request, headers)
        if refused is not None:
            return refused
        if (headers.get("x-tc-action"), headers.get("x-tc-version")) != ("SendSms", "2021-01-11"):
            return self._error("InvalidAction", "action or version")
        body = json.loads(request.body.decode("utf-8"))
        if body.get("SmsSdkAppId") != SDK_APP_ID:
            return self._error("FailedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId verify fail")
        if body.get("SignName") != SIGN_NAME:
            return self._error("FailedOperation.SignatureIncorrectOrUnapproved", "signature unapproved")
        template = TEMPLATES.get(str(body.get("TemplateId")))
        if template is None:
            return self._error("FailedOperation.TemplateIncorrectOrUnapproved", "template unapproved")
        params = body.get("TemplateParamSet") or []
        if len(params) != len(re.findall(r"\{\d+\}", template)):
            return self._error("InvalidParameterValue.TemplateParameterFormatError", "parameter count")
        [phone] = body.get("PhoneNumberSet") or [""]
        serial = f"2433:{len(self.sent) + 1:010d}"
        if not re.fullmatch(r"\+861\d{10}|\+(?!86)\d{6,15}", phone):
            status = {
                "SerialNo": "",
                "PhoneNumber": phone,
                "Fee": 0,
                "Code": "InvalidParameterValue.IncorrectPhoneNumber",
                "Message": "incorrect number",
                "IsoCode": "",
            }  # noqa: E501
            return Answer(200, {"Response": {"SendStatusSet": [status], "RequestId": "fake"}})
        content = re.sub(r"\{(\d+)\}", lambda m: params[int(m[1]) - 1], template)
        self.sent.append(
            {
                "phone": phone,
                "content": f"【{SIGN_NAME}】{content}",
                "template": body["TemplateId"],
                "params": params,
                "context": body.get("SessionContext"),
                "serial_no": serial,
            }
        )
        status = {
            "SerialNo": serial,
            "PhoneNumber": phone,
            "Fee": 1,
            "SessionContext": body.get("SessionContext", ""),
            "Code": "Ok",
            "Message": "send success",
            "IsoCode": "CN",
        }  # noqa: E501
        return Answer(200, {"Response": {"SendStatusSet": [status], "RequestId": "fake"}})

    def success(self, answer: Answer) -> bool:
        return "SendStatusSet" in json.loads(answer.encoded()).get("Response", {})
