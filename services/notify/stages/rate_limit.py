"""The rate-limit stage: our own send limits per destination, shared by replicas.

Tokens are taken per bucket (channel + destination, at its rate), one store
operation for all of a bucket's sends (``NotifyStore.take_tokens``, a GCRA bucket).
Sends over the limit wait: not a failure, no attempt counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from services.notify.channels.base import Channel, Destination


class Tokens(Protocol):
    def take_tokens(
        self, key: str, count: int, interval: float, burst: int, now: float
    ) -> tuple[int, float]: ...


class Addressed(Protocol):
    """A send as this stage sees it: through which channel, to where."""

    @property
    def channel(self) -> Channel: ...

    @property
    def destination(self) -> Destination: ...


S = TypeVar("S", bound=Addressed)


@dataclass
class Admission(Generic[S]):
    """The sends that may go now (``go``, in their order) and those that wait, each with
    the moment it may go (``later``: (send, epoch seconds))."""

    go: list[S] = field(default_factory=list)
    later: list[tuple[S, float]] = field(default_factory=list)


class RateLimiter:
    """Takes the send-rate tokens of a batch's sends, one store operation per bucket."""

    def __init__(self, tokens: Tokens):
        self.tokens = tokens

    def admit(self, sends: list[S], now: float) -> Admission[S]:
        """Which of ``sends`` our limits let go at ``now``; of a bucket's sends the first
        ones in ``sends``' order go first. A channel without a rate is not limited."""
        buckets: dict[tuple[str, float, int], list[S]] = {}
        for send in sends:
            rate = send.channel.rate_for(send.destination)
            if rate is not None:
                key = f"{send.channel.name}|{send.channel.destination_key(send.destination)}"
                buckets.setdefault((key, 60.0 / rate.per_minute, rate.burst), []).append(send)
        admission: Admission[S] = Admission()
        refused: set[int] = set()
        for (key, interval, burst), queued in buckets.items():
            granted, wait = self.tokens.take_tokens(key, len(queued), interval, burst, now)
            for send in queued[granted:]:
                refused.add(id(send))
                admission.later.append((send, now + wait))
        admission.go = [send for send in sends if id(send) not in refused]
        return admission
