"""What the cases service's use cases act through: its stores, its dispatcher and its
clock, with the announcements (built by ``messages.py``) as verbs.

An incident (``grouping.py``) is a case with no customer of its own: it announces no
``case_opened``, ``case_assigned``, ``case_status_changed`` or ``customer_responded``
(those are about a customer's case: profiles put them on the customer's timeline);
its owner's notifications go out as for any case.

The service builds one per call from its worker's dependencies (``CasesService.context``),
so a test that replaces the clock or the dispatcher on a worker is seen here too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from services.cases import messages
from services.cases.grouping import is_incident
from services.cases.store import CaseStore
from services.common import settings


@dataclass(frozen=True)
class Context:
    store: CaseStore
    dispatch: Callable[[str, dict], None]
    now: Callable[[], datetime]

    def send(self, announcements: Iterable[tuple[str, dict]]) -> None:
        for event_type, payload in announcements:
            self.dispatch(event_type, payload)

    def notification(self, case: dict, recipient: dict, kind: str, tag: str, **extra) -> dict:
        """``notification_requested`` as of now, with the console's link to the case."""
        console = settings.get("CONSOLE_URL")
        return messages.notification(case, recipient, kind, tag, now=self.now(), console_url=console, **extra)

    def notify(self, case: dict, recipient: dict, kind: str, tag: str, **extra) -> None:
        self.dispatch("notification_requested", self.notification(case, recipient, kind, tag, **extra))

    def notify_update(
        self, case: dict, recipient: dict | None, update: str, *, by: str, rev: int | None = None, **extra
    ) -> None:
        """Tell the case's owner (if any) of an update (``case_update``)."""
        if recipient is not None:
            tag = messages.update_tag(case, update, rev)
            self.notify(case, recipient, "case_update", tag, update=update, by=by, **extra)

    def announce_opened(self, case: dict) -> None:
        if not is_incident(case):
            self.dispatch("case_opened", messages.case_opened(case))

    def announce_assignment(self, case: dict, *, by: str, reason: str) -> None:
        """``case_assigned``, and the new owner's notification."""
        if not is_incident(case):
            self.dispatch("case_assigned", messages.case_assigned(case, by=by, reason=reason))
        tag = messages.assignment_tag(case)
        self.notify(case, case["assignee"], "case_assigned", tag, reason=reason, by=by)

    def announce_status_change(
        self, case: dict, from_: str, to: str, at: datetime, by: str, why: str | None
    ) -> None:
        if not is_incident(case):
            self.send(messages.status_changed(case, from_, to, at, by, why))
