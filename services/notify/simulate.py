"""Dry runs: what the pipeline would send, sending nothing.

``simulate`` takes a ``notification_requested`` and ``preview`` one kind on one
channel. They call the pipeline's own stages (``Plan.targets`` for routing,
``QuietHours.hold`` for quiet hours, ``Resolver.resolve`` for the channel, the
recipient and their address, ``NoteRenderer`` and the channel's ``preview`` for
rendering, the policy's fallback map) without their writing parts: no delivery,
no attempt, no counter, no rate-limit token.
"""

from __future__ import annotations

from datetime import datetime

from marshmallow import ValidationError, fields

from contracts.base import flatten_errors
from contracts.messages import NOTIFICATION_KINDS, schema_of
from services.common.errors import BadRequest
from services.common.validation import load_valid
from services.notify.channels.base import Channel, Destination
from services.notify.channels.truncate import recording_cuts
from services.notify.delivery import Pipeline
from services.notify.render import LANGUAGES
from services.notify.samples import sample
from services.notify.stages.plan import delivery_key
from services.notify.stages.render import NoteRenderer
from services.notify.stages.resolve import destination

EMPTY = {
    "language": None,
    "subject": None,
    "body": None,
    "truncated": False,
    "template": None,
    "render_error": None,
    "html": None,
}


def load_request(payload) -> dict:
    """A ``notification_requested`` payload checked against its contract
    (``schema_version`` may be left out); BadRequest names each bad field."""
    if not isinstance(payload, dict):
        raise BadRequest("request: must be a notification_requested object")
    return load_valid(schema_of("notification_requested"), {"schema_version": 1, **payload}, field="request")


def load_now(value) -> float | None:
    """``now`` given as ISO-8601 with an offset, as epoch seconds (None when absent)."""
    if value is None:
        return None
    try:
        return fields.AwareDateTime(format="iso").deserialize(value).timestamp()
    except ValidationError as exc:
        raise BadRequest(flatten_errors(exc.messages, "now")) from None


def simulate(pipeline: Pipeline, request: dict, now: float) -> list[dict]:
    """One entry per recipient × channel the pipeline would deliver ``request`` to,
    plus the fallback deliveries a destination that cannot be used would cause."""
    out: list[dict] = []
    for ref, channel in pipeline.plan.targets(request):
        entry = _entry(pipeline, request, ref, channel, now)
        out.append(entry)
        if entry["error"] and entry["fallback_channel"]:
            out.extend(_fallbacks(pipeline, request, ref, entry["fallback_channel"], now))
    return out


def _fallbacks(pipeline: Pipeline, request: dict, ref: dict, target: str, now: float) -> list[dict]:
    # As the fall-back stage (stages/fall_back.py): a team's robot failing means mailing
    # its members; a fallback is due at once (no quiet hours) and never falls back again.
    refs = [ref]
    if ref["kind"] == "team" and target == "email":
        refs = [{"kind": "person", "id": p["id"]} for p in pipeline.store.resolve(ref)]
    taken = {(r["kind"], r["id"], c) for r, c in pipeline.plan.targets(request)}
    entries = []
    for each in refs:
        if (each["kind"], each["id"], target) in taken:
            continue  # the notification already goes to them on that channel
        entry = _entry(pipeline, request, each, target, now, hold=False)
        entries.append({**entry, "fallback_channel": None, "fallback_of": channel_key(ref)})
    return entries


def channel_key(ref: dict) -> str:
    return f"{ref['kind']}:{ref['id']}"


def _entry(pipeline: Pipeline, request: dict, ref: dict, name: str, now: float, hold: bool = True) -> dict:
    fallback = (pipeline.policy.fallback or {}).get(name)
    entry = {
        "recipient": ref,
        "channel": name,
        **EMPTY,
        "held_for_quiet_hours": False,
        "release_at": None,
        "bypass_reason": None,
        "fallback_channel": fallback if fallback != name else None,
        "fallback_of": None,
        "error": None,
    }
    to = pipeline.resolver.resolve(ref, name)
    if to.channel is None or to.recipient is None or to.destination is None:
        return {**entry, "error": to.error}
    if hold:
        held = pipeline.quiet_hours.hold(request["level"], to.recipient, now)
        release = held.release
        entry.update(
            held_for_quiet_hours=release is not None, release_at=_iso(release), bypass_reason=held.bypass
        )
    entry["error"] = to.error  # the address cannot be used: shown, and rendered all the same
    return {**entry, **render(pipeline, request, ref, to.recipient, to.channel, to.destination)}


def render(
    pipeline: Pipeline, request: dict, ref: dict, recipient: dict, channel: Channel, destination: Destination
) -> dict:
    """Subject and body exactly as ``channel`` would send them (the vendor payload for
    robots and the webhook, the text part for email, with ``html``), and whether a
    size limit cut them."""
    doc = {
        "_id": delivery_key(request["notification_id"], channel.name, ref),
        "kind": request["kind"],
        "level": request["level"],
        "case_id": request.get("case_id"),
        "context": request["context"],
    }
    with recording_cuts() as cuts:
        rendering = NoteRenderer(pipeline.renderer).render(doc, recipient, channel)  # counts nothing
        note, rendered = rendering.note, rendering.rendered
        payload = None if channel.template_format == "email" else channel.preview(note, destination)
    return {
        "language": note.language,
        "subject": note.title,
        "body": note.body if payload is None else payload,
        "truncated": bool(cuts),
        "template": rendered.template,
        "render_error": rendered.error,
        "html": note.html,
    }


def load_preview(kind, channel, language, payload, channels: dict[str, Channel]) -> dict:
    """The context a preview of ``kind`` on ``channel`` in ``language`` renders:
    ``payload``, or the kind's built-in sample; BadRequest names each bad argument."""
    errors = []
    if kind not in NOTIFICATION_KINDS:
        errors.append(f"kind: one of {', '.join(NOTIFICATION_KINDS)}")
    if channel not in channels:
        errors.append(f"channel: one of {', '.join(channels)}")
    if language not in LANGUAGES:
        errors.append(f"language: one of {', '.join(LANGUAGES)}")
    if payload is not None and not isinstance(payload, dict):
        errors.append("payload: a JSON object (the notification context)")
    if errors:
        raise BadRequest(errors)
    return payload if payload is not None else sample(kind)


def preview(
    pipeline: Pipeline, kind: str, channel: Channel, language: str, context: dict, recipient: dict
) -> dict:
    """Render ``context`` as ``recipient`` would get it on ``channel`` (nothing is sent)."""
    doc = {"_id": "preview", "kind": kind, "level": context.get("level", "P4"), "context": context}
    note = NoteRenderer(pipeline.renderer).render(doc, {**recipient, "language": language}, channel).note
    address = destination(pipeline.store, {"kind": "person", **recipient}, channel.name, channel)
    return {
        "title": note.title,
        "body": note.body,
        "text": note.text,
        "html": note.html,
        "payload": channel.preview(note, address),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
