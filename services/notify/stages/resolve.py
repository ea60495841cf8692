"""The resolve stage: where a delivery goes (its channel, its recipient and their
address there) or why it cannot go; and the secrets that address holds, which no
error text or log line may show."""

from __future__ import annotations

from dataclasses import dataclass

from services.notify.channels.base import Channel, Destination, NotConfigured
from services.notify.stages.plan import Directory


@dataclass(frozen=True)
class Resolved:
    """``error`` says why it cannot go (unknown channel or recipient, an address the
    channel cannot use); the parts found before that are kept (a dry run shows them)."""

    channel: Channel | None = None
    recipient: dict | None = None
    destination: Destination | None = None
    secrets: tuple[str, ...] = ()
    error: str | None = None


class Resolver:
    """Finds a delivery's channel, recipient and address, and checks the channel can use it."""

    def __init__(self, directory: Directory, channels: dict[str, Channel]):
        self.directory = directory
        self.channels = channels

    def resolve(self, ref: dict, channel_name: str) -> Resolved:
        """Where a message to ``ref`` (``{kind, id}``) on ``channel_name`` goes."""
        channel = self.channels.get(channel_name)
        if channel is None:
            return Resolved(error=f"channel {channel_name} is not configured")
        recipient = self.directory.recipient(ref["kind"], ref["id"])
        if recipient is None:
            return Resolved(channel, error=f"unknown recipient {ref['kind']} {ref['id']}")
        address = destination(self.directory, recipient, channel_name, channel)
        try:
            channel.check(address)
        except NotConfigured as exc:
            return Resolved(channel, recipient, address, error=str(exc))
        # Channel.secrets; a stand-in channel without it has none to hide
        secrets: list[str] = getattr(channel, "secrets", lambda destination: [])(address)
        return Resolved(channel, recipient, address, tuple(secrets))


def destination(
    directory: Directory, recipient: dict, channel: str, sender: Channel | None = None
) -> Destination:
    """A recipient's address on ``channel``. A person without their own webhook uses the
    robot of the first team they belong to that has one; a team's message mentions its
    members (by the handle field ``sender.mention_field`` names, ``user_id`` by default)."""
    mention_field = getattr(sender, "mention_field", "user_id")  # stand-ins may lack it
    handle = dict((recipient.get("handles") or {}).get(channel) or {})
    members = [recipient]
    if recipient["kind"] == "team":
        members = directory.resolve({"kind": "team", "id": recipient["id"]})
    elif not handle.get("webhook") and channel != "email":
        for team in directory.teams_of(recipient["id"]):
            team_handle = (team.get("handles") or {}).get(channel)
            if team_handle:
                handle = {**team_handle, **handle}
                break
    user_ids: list[str] = []
    mobiles: list[str] = []
    for person in members:
        own = (person.get("handles") or {}).get(channel) or {}
        for key, bucket in ((mention_field, user_ids), ("mobile", mobiles)):
            if own.get(key):
                bucket.append(own[key])
    email = recipient.get("email") if recipient["kind"] == "person" else None
    return Destination(handle, tuple(user_ids), tuple(mobiles), email)
