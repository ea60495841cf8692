"""SMS to customers, through one SMS vendor or two: Alibaba Cloud (``aliyun.py``) and
Tencent Cloud (``tencent.py``). A deployment names them in ``CUSTOMER_SMS_VENDORS``,
primary first.

An SMS in China goes out only on a template the vendor approved under an approved
signature; we send the template's variables. An operator registers one template per
purpose and language at each vendor with the wording of
``templates/<language>/<purpose>.sms.txt.j2`` (the text kept in our log) and configures
the codes (``CUSTOMER_SMS_TEMPLATES``, ``CUSTOMER_SMS_TENCENT_TEMPLATES``).

**Failover.** A message goes to the primary; when the primary fails (unreachable, 5xx,
its own errors, throttling of the account, credentials or template refused, not
configured) the next vendor is tried at once, in the same attempt. When a vendor refuses
or limits *the number* (``Sent.about_number``) that answer stands: another vendor would
refuse it as well, or get round a limit that protects the customer. The vendor that sent
it is kept with its reference (``aliyun:<BizId>``, ``tencent:<SerialNo>``): the
delivery receipts (docs/notify.md) name it.
"""

from __future__ import annotations

from dataclasses import replace

from services.notify.channels.base import CustomerChannel, CustomerNote, Outcome
from services.notify.channels.sms.aliyun import (
    API_VERSION,
    AliyunSms,
    SmsConfig,
    canonical_query,
    interpret,
    percent_encode,
    phone_number,
    signature,
)
from services.notify.channels.sms.tencent import TencentConfig, TencentSms

VENDORS = {"aliyun": AliyunSms, "tencent": TencentSms}

__all__ = [
    "API_VERSION",
    "VENDORS",
    "SmsChannel",
    "SmsConfig",
    "TencentConfig",
    "canonical_query",
    "interpret",
    "percent_encode",
    "phone_number",
    "signature",
]


def vendor_names(value: str) -> tuple[str, ...]:
    """``CUSTOMER_SMS_VENDORS``: vendor names, primary first (ValueError naming the setting)."""
    names = tuple(n.strip() for n in (value or "").split(",") if n.strip())
    unknown = [n for n in names if n not in VENDORS]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(
            f"CUSTOMER_SMS_VENDORS: one or two of {', '.join(VENDORS)}, each once; got {value!r}"
        )
    return names


class SmsChannel(CustomerChannel):
    name = "sms"
    address_field = "phone"
    template_format = "sms"

    def vendors(self) -> list:
        return [VENDORS[name](self.settings) for name in self.settings.get("sms_vendors") or ("aliyun",)]

    @property
    def config(self) -> SmsConfig:  # the Alibaba Cloud settings (kept for previews and tests)
        return self.settings.get("sms") or SmsConfig()

    def missing(self) -> str | None:
        """None while one vendor is configured; else what each lacks."""
        gaps = [(vendor.name, vendor.missing()) for vendor in self.vendors()]
        if any(gap is None for _, gap in gaps):
            return None
        if len(gaps) == 1:
            return gaps[0][1]
        return "; ".join(f"{name} {gap}" for name, gap in gaps)

    def secrets(self) -> list[str]:
        return [secret for vendor in self.vendors() for secret in vendor.secrets()]

    def preview(self, note: CustomerNote, address: str) -> dict:
        primary = self.vendors()[0]
        return {"vendor": primary.name, **primary.preview(note, address)}

    def deliver(self, note: CustomerNote, address: str, now: float) -> Outcome:
        errors: list[str] = []
        transient = False
        last: Outcome | None = None
        for vendor in self.vendors():
            gap = vendor.missing()
            if gap is not None:
                errors.append(f"{vendor.name} {gap}")
                continue
            sent = vendor.send(note, address, now)
            outcome = sent.outcome
            if outcome.status == "delivered":
                return replace(outcome, detail=f"{vendor.name}:{outcome.detail or ''}")
            if sent.about_number:
                return replace(outcome, error=f"{vendor.name}: {outcome.error}")
            errors.append(f"{vendor.name}: {outcome.error}")
            transient = transient or outcome.status == "retry"
            last = outcome
        text = "; ".join(errors) or "no SMS vendor"
        if transient and last is not None:  # one of them may recover: the pipeline retries
            return Outcome.retry(text, last.retry_after if last.status == "retry" else None, last.http_status)
        return Outcome.failed(text, last.http_status if last else None)


CUSTOMER_CHANNEL = SmsChannel
