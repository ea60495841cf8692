"""The plan stage: the deliveries a notification asks for, one per recipient × channel,
each due now or held for quiet hours (the hold stage)."""

from __future__ import annotations

from typing import Protocol

from services.notify.stages.hold import QuietHours


class Directory(Protocol):
    """The recipients directory as the stages read it (``NotifyStore``, or
    ``store.Recipients`` in memory)."""

    def recipient(self, kind: str, id_: str) -> dict | None: ...

    def resolve(self, ref: dict) -> list[dict]: ...

    def teams_of(self, person_id: str) -> list[dict]: ...


def delivery_key(notification_id: str, channel: str, recipient: dict) -> str:
    """One delivery = one notification × channel × recipient (the idempotency key)."""
    return f"{notification_id}|{channel}|{recipient['kind']}:{recipient['id']}"


class Plan:
    """What a ``notification_requested`` becomes: its targets and their deliveries."""

    def __init__(self, directory: Directory, quiet_hours: QuietHours):
        self.directory = directory
        self.quiet_hours = quiet_hours

    def targets(self, request: dict) -> list[tuple[dict, str]]:
        """(recipient ref, channel) pairs. A team with a group handle on an IM
        channel gets one message there (mentioning its members); otherwise each
        member is a target."""
        ref = request["recipient"]
        out: list[tuple[dict, str]] = []
        team = self.directory.recipient("team", ref["id"]) if ref["kind"] == "team" else None
        for channel in request["channels"]:
            if team is not None and channel in (team.get("handles") or {}):
                out.append(({"kind": "team", "id": team["id"]}, channel))
                continue
            people = self.directory.resolve(ref)
            if not people:
                out.append((ref, channel))  # fails as an unknown recipient, visibly
            out.extend(({"kind": "person", "id": p["id"]}, channel) for p in people)
        return out

    def deliveries(self, request: dict, now: float, hold: bool = True) -> list[dict]:
        """The deliveries ``request`` asks for, keyed by ``delivery_key``. ``hold=False``
        ignores quiet hours (test messages an admin asked for)."""
        docs = []
        for ref, channel in self.targets(request):
            delivery_id = delivery_key(request["notification_id"], channel, ref)
            doc = self.delivery(delivery_id, request, ref, channel, now)
            if not hold:
                doc.update(status="scheduled", next_attempt_at=now, held=False)
            docs.append(doc)
        return docs

    def delivery(self, delivery_id: str, request: dict, ref: dict, channel: str, now: float, **extra) -> dict:
        """One delivery of ``request`` to ``ref`` on ``channel``: ``scheduled`` now, or
        ``held`` until its recipient's quiet hours end."""
        status, due = "scheduled", now
        recipient = self.directory.recipient(ref["kind"], ref["id"]) or {}
        release = self.quiet_hours.hold(request["level"], recipient, now).release
        if release is not None:
            status, due = "held", release.timestamp()
        return {
            "_id": delivery_id,
            "notification_id": request["notification_id"],
            "kind": request["kind"],
            "level": request["level"],
            "case_id": request.get("case_id"),
            "channel": channel,
            "recipient": ref,
            "context": request["context"],
            "status": status,
            "next_attempt_at": due,
            "held": status == "held",
            **extra,
        }
