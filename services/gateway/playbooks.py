"""Playbooks (标准解决方案) over the cases service's RPC: the library (read by every
person, saved by admins as versions), the playbooks that fit a case (for whoever may
see the case), a playbook used on a case, and the figures per playbook.

The routes' handlers are ``playbook_endpoints.PlaybookEndpoints`` (routes.py: who
may call them), mixed into ``GatewayService``. The bodies are checked here; the
cases service validates the playbook and names the field of anything wrong (a 400).
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from services.gateway.actions import load_valid_body
from services.gateway.errors import bad_request


class SaveBody(Schema):
    """``PUT /api/v1/playbooks/{playbook_id}``: the playbook and why it changed."""

    class Meta:
        unknown = RAISE

    playbook = fields.Dict(
        required=True, metadata={"description": "the playbook (docs/cases.md); id = the path's"}
    )
    why = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class UseBody(Schema):
    """``POST /api/v1/cases/{case_id}/playbooks/{playbook_id}/use``."""

    class Meta:
        unknown = RAISE

    send = fields.Boolean(load_default=False, metadata={"description": "send the reply to the customer"})
    language = fields.String(load_default="zh-CN", validate=validate.OneOf(("zh-CN", "en")))
    channels = fields.List(
        fields.String(), metadata={"description": "sms / email / wechat_oa; default: the playbook's"}
    )
    use_id = fields.String(
        validate=validate.Length(min=1, max=128), metadata={"description": "idempotency key"}
    )


def save(services, user: dict, playbook_id: str, body) -> dict:
    r = load_valid_body(SaveBody, body)
    if r["playbook"].get("id", playbook_id) != playbook_id:
        raise bad_request([f"playbook.id: must be {playbook_id!r}, the path's id"], "body")
    playbook = {**r["playbook"], "id": playbook_id}
    return services.cases.save_playbook({"by": user["id"], "why": r["why"], "playbook": playbook})


def use(services, user: dict, case_id: str, playbook_id: str, body) -> dict:
    """Use the playbook on a case (the caller checked it may see it)."""
    r = load_valid_body(UseBody, body)
    return services.cases.use_playbook(
        {**r, "case_id": case_id, "playbook_id": playbook_id, "by": user["id"]}
    )
