"""Built-in sample payloads, one per notification kind: previews render them, and
an admin-edited template must render them before it is accepted."""

from __future__ import annotations

import copy
import uuid

from contracts.messages import NOTIFICATION_KINDS
from services.common.errors import BadRequest, NotFound

_CASE = {
    "case_id": "CASE-3F2A9C01B7E4",
    "case_url": "http://127.0.0.1:8000/cases/CASE-3F2A9C01B7E4",
    "title": "NPS 贬损者 · 王芳",
    "level": "P2",
    "status": "assigned",
    "rule": {"id": "nps-detractor", "version": 3, "name": "NPS 贬损者"},
    "customer": {"id": "C10023", "name": "王芳", "tier": "vip"},
    "event": {
        "source": "survey-app",
        "event_id": "ev-20261120-0001",
        "channel": "wechat",
        "touchpoint": "delivery",
        "scores": {"nps": 2, "csat": 1},
        "occurred_at": "2026-11-20T02:15:00+00:00",
        "text": "送货晚了三天，客服电话一直打不通。",
    },
    "trace": [
        {"field": "scores.nps", "op": "lte", "value": 6, "actual": 2, "result": True},
        {"field": "customer.tier", "op": "eq", "value": "vip", "actual": "vip", "result": True},
    ],
    "assignee": {"kind": "person", "id": "li.na"},
    "opened_at": "2026-11-20T02:15:03+00:00",
}

# an ``alert_raised`` message as the alerts service publishes it (the contract's fields;
# tests/unit/test_notify_samples.py validates it)
ALERT_MESSAGE = {
    "schema_version": 1,
    "alert_id": "AL-7D1E22C0",
    "raised_at": "2026-11-20T02:15:02+00:00",
    **{k: _CASE[k] for k in ("level", "rule", "customer", "event", "trace")},
    "owner": {"kind": "team", "id": "cx-care"},
    "channels": ["email"],
    "dedup_key": "C10023\x1frule=nps-detractor",
    "facts": {"sentiment": "negative", "category": "complaint"},
    "scope": "customer",
    "group": None,
}

SAMPLES: dict[str, dict] = {
    # the cases service adds who assigned and why (services/cases/context.py)
    "case_assigned": {
        **_CASE,
        "reason": "规则 nps-detractor 指定的负责人 / owner of rule nps-detractor",
        "by": "system",
    },
    # the alert, with the console's link and a title
    "alert_raised": {**ALERT_MESSAGE, "case_url": _CASE["case_url"], "title": _CASE["title"]},
    # the context the cases service sends with an escalation step
    "escalation_step": {
        **_CASE,
        "level": "P1",
        "escalation": {
            "round": 1,
            "step": 2,
            "target": "team_lead",
            "after_minutes": 30,
            "acknowledged": False,
        },
    },
    # collaborator added / reopened / other updates, from the cases service
    "case_update": {
        **_CASE,
        "update": "collaborator_added",
        "by": "li.na",
        "role": "安装协调 / installation",
        "reason": "需要安装团队上门 / needs the installation team on site",
    },
    "sla_warning": {
        **_CASE,
        "sla": {"kind": "response", "due_at": "2026-11-20T03:15:03+00:00", "remaining_minutes": 15},
    },
    "digest": {
        "level": "P4",
        "title": "daily digest",
        "period": {"kind": "daily", "start": "2026-11-19T00:00:00+00:00", "end": "2026-11-20T00:00:00+00:00"},
        "open_cases": [
            {
                "case_id": "CASE-3F2A9C01B7E4",
                "title": "NPS 贬损者 · 王芳",
                "level": "P2",
                "age_hours": 20,
                "case_url": "http://127.0.0.1:8000/cases/CASE-3F2A9C01B7E4",
                "customer": {"id": "C10023", "name": "王芳"},
            },
            {
                "case_id": "CASE-91B0C44D2A10",
                "title": "CSAT 1 · 赵磊",
                "level": "P1",
                "age_hours": 3,
                "case_url": "http://127.0.0.1:8000/cases/CASE-91B0C44D2A10",
                "customer": {"id": "C20417", "name": "赵磊"},
            },
        ],
        "breaches": [
            {
                "case_id": "CASE-91B0C44D2A10",
                "title": "CSAT 1 · 赵磊",
                "level": "P1",
                "age_hours": 3,
                "case_url": "http://127.0.0.1:8000/cases/CASE-91B0C44D2A10",
                "customer": {"id": "C20417", "name": "赵磊"},
                "clocks": ["acknowledge"],
            },
        ],
        "at_risk": [
            {
                "case_id": "CASE-3F2A9C01B7E4",
                "title": "NPS 贬损者 · 王芳",
                "level": "P2",
                "age_hours": 20,
                "case_url": "http://127.0.0.1:8000/cases/CASE-3F2A9C01B7E4",
                "customer": {"id": "C10023", "name": "王芳"},
                "clocks": ["resolve"],
            },
        ],
        "suppressed": [
            {
                "case_id": "CASE-91B0C44D2A10",
                "title": "CSAT 1 · 赵磊",
                "level": "P1",
                "age_hours": 3,
                "case_url": "http://127.0.0.1:8000/cases/CASE-91B0C44D2A10",
                "customer": {"id": "C20417", "name": "赵磊"},
                "alert_id": "AL-5d1c0e9a2b7f4c3e8a10",
                "rule": "乱收费 / Unexpected charges",
                "count": 37,
            },
        ],
        "top_alerts": [{"rule": "NPS 贬损者", "count": 12}, {"rule": "CSAT 低分", "count": 5}],
        "customer_ids": ["C10023", "C20417"],
    },
}

SAMPLE_RECIPIENT = {"id": "li.na", "name": "李娜", "timezone": "Asia/Shanghai", "email": "li.na@example.com"}


def sample(kind: str) -> dict:
    return copy.deepcopy(SAMPLES[kind])


def sample_request(channel: str, to: str, kind: str, channels: dict, directory) -> dict:
    """The ``notification_requested`` of an admin's test message: the sample of ``kind``
    to ``to`` (``person:ID``, ``team:ID`` or an id) on ``channel``. BadRequest names a
    bad argument; NotFound a recipient not in ``directory``."""
    if channel not in channels:
        raise BadRequest(f"channel: one of {', '.join(channels)}")
    if kind not in NOTIFICATION_KINDS:
        raise BadRequest(f"kind: one of {', '.join(NOTIFICATION_KINDS)}")
    ref_kind, _, ref_id = to.rpartition(":")
    ref = {"kind": ref_kind or "person", "id": ref_id}
    if ref["kind"] not in ("person", "team") or directory.recipient(ref["kind"], ref["id"]) is None:
        raise NotFound(f"no recipient {to} in the directory")
    context = sample(kind)
    return {
        "notification_id": f"test-{uuid.uuid4().hex[:12]}",
        "kind": kind,
        "recipient": ref,
        "channels": [channel],
        "level": context.get("level", "P4"),
        "case_id": context.get("case_id"),
        "context": context,
    }
