"""The send stage: one attempt through the channel; a channel that raises is a transient
failure; the destination's secrets never stay in what is kept; the destination is masked."""

from itertools import count

from services.notify.channels.base import Destination, Note, Outcome
from services.notify.stages.send import Ready, Sender, mask

HOOK = "https://hooks.slack.com/services/T000/B000/sEcReTpAtH123456"
NOTE = Note("d1", "case_assigned", "P2", "en", "title", "body", "text")


class Robot:
    name = "slack"

    def __init__(self, answer):
        self.answer = answer
        self.sent = []

    def destination_key(self, destination):
        return destination.handle["webhook"]

    def deliver(self, note, destination, now):
        self.sent.append((note, destination, now))
        return self.answer()


def ready(channel) -> Ready:
    return Ready(
        {"_id": "d1"}, 1, channel, {"id": "emma"}, Destination({"webhook": HOOK}), ("sEcReTpAtH123456",)
    )


def clock():
    ticks = count()
    return lambda: next(ticks) * 0.25


def test_the_outcome_the_channel_gave_with_its_duration_and_masked_destination():
    robot = Robot(lambda: Outcome.ok("ts-1", 200))
    sent = Sender(clock()).send(ready(robot), NOTE, 1_000.0)
    assert sent.outcome == Outcome.ok("ts-1", 200) and sent.seconds == 0.25
    assert sent.destination == "https://hooks.slack.com/…"
    assert robot.sent == [(NOTE, Destination({"webhook": HOOK}), 1_000.0)]


def test_a_channel_that_raises_is_a_transient_failure():
    def broken():
        raise KeyError("webhook")

    sent = Sender(clock()).send(ready(Robot(broken)), NOTE, 1_000.0)
    assert sent.outcome.status == "retry" and sent.outcome.error == "internal error: KeyError: 'webhook'"


def test_the_destinations_secrets_are_redacted_from_the_error_and_the_detail():
    answer = Outcome(
        status="failed", error=f"404 for {HOOK}", detail="echo sEcReTpAtH123456", http_status=404
    )
    sent = Sender(clock()).send(ready(Robot(lambda: answer)), NOTE, 1_000.0)
    assert "sEcReTpAtH123456" not in sent.outcome.error and "sEcReTpAtH123456" not in sent.outcome.detail
    assert sent.outcome.status == "failed" and sent.outcome.http_status == 404
    assert Sender().send(ready(Robot(lambda: Outcome.ok())), NOTE, 0.0).outcome.error is None


def test_mask_keeps_only_what_identifies_a_destination_harmlessly():
    assert mask("li.na@example.com") == "li***@example.com"
    assert mask(HOOK) == "https://hooks.slack.com/…"
    assert mask("http://127.0.0.1:8080/hook?key=1") == "http://127.0.0.1:8080/…"
    assert mask("not-a-url-at-all") == "not-a-ur…"
