"""An admin's acts on a customer's profile (体验档案), over the profiles service's RPC:
merge two ids of one person, export everything kept (a data-subject request), erase
the customer's personal data. Each needs an explicit confirmation and is audited by
the profiles service (who, when, and the reason or request reference).

The routes (API and the profile page's forms) are ``profile_admin_endpoints.py``,
mixed into ``GatewayService``.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from marshmallow import RAISE, Schema, fields, validate
from werkzeug.wrappers import Response

from contracts.base import ID_PATTERN, Pattern
from services.gateway.actions import load_valid_body
from services.gateway.errors import bad_request

ID_FIELD = [validate.Length(min=1, max=128), Pattern(ID_PATTERN, error="an id")]


class MergeBody(Schema):
    """``POST /api/v1/profiles/{customer_id}/merge``: ``merged`` becomes this customer."""

    class Meta:
        unknown = RAISE

    merged = fields.String(
        required=True, validate=ID_FIELD, metadata={"description": "the other id of the same person"}
    )
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    confirm = fields.Boolean(required=True, metadata={"description": "must be true"})


class EraseBody(Schema):
    """``POST /api/v1/profiles/{customer_id}/erase``: the data-subject request."""

    class Meta:
        unknown = RAISE

    request_ref = fields.String(
        required=True, validate=ID_FIELD, metadata={"description": "no personal data"}
    )
    confirm = fields.String(required=True, metadata={"description": "the customer id, typed again"})


def merge(services, user: dict, customer_id: str, body, where: str = "body") -> dict:
    r = load_valid_body(MergeBody, body, where)
    if not r["confirm"]:
        raise bad_request(["confirm: tick to confirm the merge"], where)
    if r["merged"] == customer_id:
        raise bad_request(["merged: must be another customer id"], where)
    return services.profiles.merge_customers(customer_id, r["merged"], user["id"], r["reason"])


def erase(services, user: dict, customer_id: str, body, where: str = "body") -> dict:
    r = load_valid_body(EraseBody, body, where)
    if r["confirm"] != customer_id:
        raise bad_request([f"confirm: type the customer id ({customer_id}) to confirm"], where)
    return services.profiles.erase_customer(customer_id, user["id"], r["request_ref"])


def export(services, user: dict, customer_id: str) -> Response:
    """Everything kept about the customer as a JSON download (the export is audited)."""
    data = services.profiles.export_customer(customer_id, by=user["id"])
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="profile-{quote(customer_id, safe="")}.json"'},
    )
