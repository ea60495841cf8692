"""The feedback parser on its own: every fuzz case is accepted or refused with a reason.

The same cases as the broker run (tests/fuzz/test_feedback_broker.py), checked in
process: quick to shrink, and the oracle for each case's expected reason.
"""

import bson
import pytest

from contracts.feedback import InvalidFeedback, parse_feedback
from services.common.messaging import refusal
from tests.fuzz.budget import FUZZ_CASES
from tests.fuzz.feedback_cases import generate

pytestmark = pytest.mark.unit


def outcome(case):
    """What the consumer's gate and parser make of a case: ("ok", event) or ("refused", reason)."""
    properties = {
        "content_type": case.content_type,
        "content_encoding": case.content_encoding,
        "application_headers": dict(case.headers),
    }
    reason = refusal(properties, case.body, 256 * 1024)
    if reason:
        return "refused", reason
    try:
        return "ok", parse_feedback(case.body)
    except InvalidFeedback as exc:
        return "refused", exc.reason


def test_every_case_is_accepted_or_refused_with_a_reason_naming_what_is_wrong():
    cases = generate(FUZZ_CASES)
    assert len(cases) == FUZZ_CASES
    wrong = []
    for index, case in enumerate(cases):
        verdict, detail = outcome(case)  # any other exception fails the test here
        if case.valid:
            if verdict != "ok":
                wrong.append((index, case.kind, "refused", detail))
                continue
            bson.encode({"event": detail})  # what was accepted can be stored as it is
        elif verdict != "refused" or case.expect not in detail:
            wrong.append((index, case.kind, case.expect, detail if verdict == "refused" else "accepted"))
    assert not wrong, wrong[:10]
    kinds = {case.kind for case in cases}
    assert len(kinds) >= 20 or FUZZ_CASES < 200, kinds
