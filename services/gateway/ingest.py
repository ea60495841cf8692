"""``POST /api/v1/feedback``: one event (an object) or a batch (an array).

Each item is checked against the feedback contract on its own
(contracts.feedback.parse_feedback) and published alone, exactly as an
integration publishes on AMQP (dependencies.FeedbackPublisher): an invalid
item in a batch is listed as rejected in the 202 and not published, the
others go on. A single event that is invalid is a 400.
"""

from __future__ import annotations

from collections.abc import Callable

from contracts.feedback import InvalidFeedback, parse_feedback
from services.gateway.errors import HttpError, bad_request, field_errors, reason_lines

MAX_BATCH = 500


def ingest(document, publish: Callable[[dict, str], None]) -> tuple[int, dict]:
    """Publish every valid item (``publish(item, channel)``); 202 with each item's result."""
    batch = isinstance(document, list)
    items = document if batch else [document]
    if batch and not 1 <= len(items) <= MAX_BATCH:
        raise bad_request([f"body: a batch holds 1 to {MAX_BATCH} events"])
    results: list[dict] = []
    for index, item in enumerate(items):
        result = {"index": index}
        try:
            if not isinstance(item, dict):
                raise InvalidFeedback("each event must be a JSON object")
            event = parse_feedback(item)
        except InvalidFeedback as exc:
            results.append({**result, "status": "rejected", "errors": rejected(exc.reason)})
            continue
        publish(item, event["channel"])
        results.append(
            {**result, "status": "accepted", "source": event["source"], "event_id": event["event_id"]}
        )
    if not batch and results[0]["status"] == "rejected":
        raise HttpError(400, "invalid feedback event", results[0]["errors"])
    accepted = sum(r["status"] == "accepted" for r in results)
    return 202, {"accepted": accepted, "rejected": len(results) - accepted, "results": results}


def rejected(reason: str) -> list[dict]:
    """The contract's reason as field errors (``schema: path: message; ...`` names fields)."""
    lines = reason_lines(reason.removeprefix("schema: ")) if reason.startswith("schema: ") else [reason]
    return field_errors(lines) if reason.startswith("schema: ") else [{"field": "_schema", "message": reason}]
