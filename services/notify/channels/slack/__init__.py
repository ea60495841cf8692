"""Slack incoming webhook.

Vendor facts (api.slack.com/messaging/webhooks, …/reference/block-kit/blocks,
…/docs/rate-limits): POST JSON ``{"text", "blocks"}`` to the hooks.slack.com
URL; a ``section`` block's text is at most 3,000 characters, a ``header``'s
150; ``text`` is the notification fallback. Incoming webhooks allow about one
message per second (short bursts tolerated); beyond it Slack answers HTTP 429
with ``Retry-After``. Success is HTTP 200 with body ``ok``; errors are 4xx with
a reason (``invalid_payload``, ``no_service``, ``channel_is_archived`` …).
Mentions are ``<@USERID>``; links ``<url|label>``.

Re-checked 2026-11-23 (search, docs corpus): section ``text`` at most 3000
characters and ``header`` text at most 150 (Block Kit reference, restated by
docs.rs/slack-messaging header.rs and rdrr.io slackme/rSlack section_block, which link
api.slack.com/reference/block-kit/blocks).
"""

from __future__ import annotations

from marshmallow import fields

from services.notify.channels import http
from services.notify.channels.base import Destination, HandleSchema, Note, Outcome, Rate
from services.notify.channels.common import USER_ID, link_label, webhook_url
from services.notify.channels.truncate import characters, fit, truncate

SECTION_LIMIT = 3000  # characters
HEADER_LIMIT = 150  # characters
TEXT_LIMIT = 3000  # the fallback text; Slack truncates top-level text at 40,000


class Handle(HandleSchema):
    webhook = webhook_url()
    user_id = fields.String(validate=USER_ID)


def build_payload(note: Note, destination: Destination) -> dict:
    mentions = " ".join(f"<@{u}>" for u in destination.user_ids)
    link = f"\n<{note.url}|{link_label(note.language)}>" if note.url else ""
    footer = link + (f"\n{mentions}" if mentions else "")
    return {
        "text": truncate(f"{note.title}", TEXT_LIMIT, characters),
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": truncate(note.title, HEADER_LIMIT, characters)},
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": fit(note.body.rstrip(), footer, SECTION_LIMIT, characters),
                },
            },
        ],
    }


def interpret(response: http.Response) -> Outcome:
    generic = http.status_outcome(response)
    if generic is not None:
        return generic
    return Outcome.ok(http_status=response.status)


class SlackChannel(http.JsonWebhookChannel):
    name = "slack"
    Handle = Handle
    template_format = "slack"
    rate = Rate(per_minute=60, burst=3, source="Slack incoming webhooks: about 1 message/second")

    build = staticmethod(build_payload)
    interpret = staticmethod(interpret)


CHANNEL = SlackChannel
