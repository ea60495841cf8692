"""Microsoft Teams through a Workflows (Power Automate) webhook.

Microsoft retires Office 365 connectors (the old "incoming webhook" with
MessageCard); the documented replacement is the Workflows template "Send
webhook alerts to a channel", which accepts ``{"type": "message",
"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": <Adaptive Card>}]}``. Vendor facts (learn.microsoft.com: Teams
connectors known limitations; "Create incoming webhooks"): a posted message is
at most about 28 KB; more than 4 requests per second are throttled (HTTP 429).
A Workflows trigger answers 202 Accepted.

Re-checked 2026-11-23 (search, docs corpus): learn.microsoft.com/zh-CN/microsoftteams/
platform/webhooks-and-connectors/how-to/add-incoming-webhook: "消息大小限制为 28 KB" and
more than four requests in one second are throttled (HTTP 429); the Adaptive Card mention
entity (``msteams.entities`` of ``{"type": "mention", "text": "<at>…</at>",
"mentioned": {"id", "name"}}``) is Microsoft.Teams.Cards ``Mention``/``MentionedEntity``
(learn.microsoft.com/dotnet/api/microsoft.teams.cards.mention).
"""

from __future__ import annotations

import json

from marshmallow import fields

from services.notify.channels import http
from services.notify.channels.base import Destination, HandleSchema, Note, Outcome, Rate
from services.notify.channels.common import link_label, webhook_url
from services.notify.channels.truncate import fit, json_bytes

MESSAGE_LIMIT = 28 * 1024  # bytes
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
COLOURS = {"P1": "Attention", "P2": "Warning", "P3": "Accent", "P4": "Default"}


class Handle(HandleSchema):
    webhook = webhook_url()
    # Workflows posts as the flow's owner; mentions need the user's Entra id or UPN.
    user_principal_name = fields.Email()


def mentioned(destination: Destination) -> list[str]:
    """Whom to @mention: every recipient with a Teams identity (the pipeline gathers the
    members' ``user_principal_name`` into ``user_ids`` for a team's channel), else the
    handle's own."""
    upns = list(destination.user_ids)
    if not upns and destination.handle.get("user_principal_name"):
        upns = [destination.handle["user_principal_name"]]
    return list(dict.fromkeys(upns))


def _message(note: Note, text: str, destination: Destination) -> dict:
    body: list[dict] = [
        {
            "type": "TextBlock",
            "text": note.title,
            "size": "Large",
            "weight": "Bolder",
            "wrap": True,
            "color": COLOURS.get(note.level, "Default"),
        },
        {"type": "TextBlock", "text": text, "wrap": True},
    ]
    card: dict = {"$schema": CARD_SCHEMA, "type": "AdaptiveCard", "version": "1.4", "body": body}
    if note.url:
        card["actions"] = [{"type": "Action.OpenUrl", "title": link_label(note.language), "url": note.url}]
    upns = mentioned(destination)
    if upns:
        body.append({"type": "TextBlock", "text": " ".join(f"<at>{u}</at>" for u in upns), "wrap": True})
        card["msteams"] = {
            "entities": [
                {"type": "mention", "text": f"<at>{u}</at>", "mentioned": {"id": u, "name": u}} for u in upns
            ]
        }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def build_payload(note: Note, destination: Destination) -> dict:
    room = MESSAGE_LIMIT - len(
        json.dumps(_message(note, "", destination), ensure_ascii=False).encode("utf-8")
    )
    return _message(note, fit(note.body.rstrip(), "", room, json_bytes), destination)


def interpret(response: http.Response) -> Outcome:
    generic = http.status_outcome(response)
    return generic if generic is not None else Outcome.ok(http_status=response.status)


class TeamsChannel(http.JsonWebhookChannel):
    name = "teams"
    Handle = Handle
    mention_field = "user_principal_name"
    rate = Rate(per_minute=240, burst=4, source="Teams webhooks: more than 4 requests/second are throttled")

    build = staticmethod(build_payload)
    interpret = staticmethod(interpret)


CHANNEL = TeamsChannel
