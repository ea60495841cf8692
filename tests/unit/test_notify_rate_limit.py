"""The rate-limit stage: one token request per bucket (channel + destination, at its
rate); of a bucket's sends the first go, the others wait until a token frees."""

from dataclasses import dataclass

from services.notify.channels.base import Destination, Rate
from services.notify.stages.rate_limit import RateLimiter

NOW = 1_000.0


class Bucket:
    """A stand-in for the store's token buckets: each key has ``free`` tokens; refused
    sends wait ``wait`` seconds. Records every request."""

    def __init__(self, free: dict[str, int], wait: float = 3.0):
        self.free = dict(free)
        self.wait = wait
        self.asked: list[tuple] = []

    def take_tokens(self, key, count, interval, burst, now):
        self.asked.append((key, count, interval, burst, now))
        granted = min(count, self.free.get(key, 0))
        self.free[key] = self.free.get(key, 0) - granted
        return granted, (0.0 if granted == count else self.wait)


class Robot:
    name = "wecom"
    rate = Rate(per_minute=20, burst=1)

    def rate_for(self, destination):
        return destination.handle.get("rate", self.rate)

    def destination_key(self, destination):
        return destination.handle["webhook"]


class Mail(Robot):
    name = "email"
    rate = None


@dataclass(frozen=True)
class Send:
    name: str
    channel: object
    destination: Destination


def send(name: str, hook: str = "a", channel=None, **handle) -> Send:
    return Send(name, channel or Robot(), Destination({"webhook": hook, **handle}))


def test_each_bucket_is_asked_once_for_all_its_sends_and_the_first_ones_go():
    sends = [send("a1"), send("b1", "b"), send("a2"), send("a3"), send("b2", "b")]
    tokens = Bucket({"wecom|a": 1, "wecom|b": 2})
    admission = RateLimiter(tokens).admit(sends, NOW)
    assert tokens.asked == [("wecom|a", 3, 3.0, 1, NOW), ("wecom|b", 2, 3.0, 1, NOW)]
    assert [s.name for s in admission.go] == ["a1", "b1", "b2"]  # in the batch's order
    assert [(s.name, until) for s, until in admission.later] == [("a2", NOW + 3.0), ("a3", NOW + 3.0)]


def test_a_channel_without_a_rate_is_not_limited_and_asks_nothing():
    tokens = Bucket({})
    sends = [send("m1", channel=Mail()), send("m2", channel=Mail())]
    admission = RateLimiter(tokens).admit(sends, NOW)
    assert tokens.asked == [] and admission.go == sends and admission.later == []


def test_a_destination_with_its_own_rate_is_its_own_bucket():
    own = Rate(per_minute=600, burst=20)
    sends = [send("x", "h", rate=own), send("y", "h")]
    tokens = Bucket({"wecom|h": 5})
    RateLimiter(tokens).admit(sends, NOW)
    assert tokens.asked == [("wecom|h", 1, 0.1, 20, NOW), ("wecom|h", 1, 3.0, 1, NOW)]


def test_nothing_to_send_asks_nothing():
    tokens = Bucket({})
    admission = RateLimiter(tokens).admit([], NOW)
    assert (admission.go, admission.later, tokens.asked) == ([], [], [])
