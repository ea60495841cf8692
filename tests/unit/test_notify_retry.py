"""The retry stage: delivered is final; a transient failure waits max(backoff, Retry-After)
while attempts remain; otherwise the delivery fails for good, counted and announced."""

from services.notify.channels.base import Outcome
from services.notify.delivery import Policy
from services.notify.stages.retry import Retry, backoff

NOW = 1_000.0
DOC = {"_id": "n1|slack|person:emma", "channel": "slack", "recipient": {"kind": "person", "id": "emma"}}


def decide(outcome: Outcome, attempt: int = 1, **policy):
    options = {"max_attempts": 3, "backoff_base": 5.0, "backoff_cap": 60.0, **policy}
    return Retry(Policy(**options), rng=lambda: 1.0).decide(
        DOC, attempt, outcome, NOW, 0.123456, "https://x/…"
    )


def test_backoff_is_uniform_below_a_doubling_ceiling_that_is_capped():
    policy = Policy(backoff_base=3.0, backoff_cap=20.0)
    assert [backoff(n, policy, lambda: 0.5) for n in (0, 1, 2, 3, 4)] == [1.5, 1.5, 3.0, 6.0, 10.0]
    assert backoff(9, policy, lambda: 0.0) == 0.0


def test_delivered_is_recorded_with_the_vendor_reference_and_announced():
    settle = decide(Outcome.ok("msg-1", 200), attempt=2)
    assert settle.update == {"attempts": 2, "last_error": None, "status": "delivered", "message_id": "msg-1"}
    assert settle.announce == Outcome.ok("msg-1", 200) and settle.attempt == 2 and settle.counter is None
    assert settle.entry == {
        "delivery_id": DOC["_id"],
        "attempt": 2,
        "channel": "slack",
        "recipient": DOC["recipient"],
        "destination": "https://x/…",
        "status": "delivered",
        "error": None,
        "http_status": 200,
        "retry_after": None,
        "started_at": NOW,
        "seconds": 0.1235,
    }


def test_a_transient_failure_waits_the_backoff_or_the_vendors_retry_after_whichever_is_longer():
    settle = decide(Outcome.retry("503 busy", http_status=503), attempt=2)
    assert settle.update == {
        "attempts": 2,
        "last_error": "503 busy",
        "status": "scheduled",
        "next_attempt_at": NOW + 10,
    }
    assert settle.announce is None and settle.counter is None
    assert decide(Outcome.retry("429", retry_after=30.0)).update["next_attempt_at"] == NOW + 30
    assert decide(Outcome.retry("429", retry_after=1.0)).update["next_attempt_at"] == NOW + 5


def test_the_last_attempt_gives_up_and_a_permanent_failure_is_not_retried():
    exhausted = decide(Outcome.retry("503 busy", http_status=503), attempt=3)
    assert exhausted.update["status"] == "failed"
    assert exhausted.update["last_error"] == "gave up after 3 attempts: 503 busy"
    assert exhausted.announce == Outcome.failed("gave up after 3 attempts: 503 busy", 503)
    assert exhausted.counter == "retries_exhausted" and exhausted.attempt == 3
    permanent = decide(Outcome.failed("no slack webhook"))
    assert permanent.update == {"attempts": 1, "last_error": "no slack webhook", "status": "failed"}
    assert permanent.counter == "permanent_failures" and permanent.announce == Outcome.failed(
        "no slack webhook"
    )
