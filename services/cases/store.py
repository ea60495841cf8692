"""The cases service's MongoDB store: ``CaseStore`` gives the service its stores, one
per aggregate (``stores/``), all over the service's one database:

- ``cases``: cases and their open keys (``CaseRecords``: intake, transitions);
- ``queries``: reads of cases (``CaseQueries``: lists, filters, metrics rows);
- ``loads``: agent loads and round-robin turns (``AgentLoads``);
- ``schedule``: due escalation steps and SLA warnings sent (``EscalationSchedule``);
- ``trail``: the audit trail and comments (``CaseTrail``);
- ``policies``: the agents directory and the SLA, escalation and follow-up policies (``Policies``);
- ``playbooks``: the playbook library and each use of a playbook (``PlaybookLibrary``);
- ``incidents``: incidents (parent cases of a group alert) and their children (``Incidents``);
- ``followups``: follow-ups with the customer (回访): due times, messages, tasks, answers;
- ``inbox``: the alerts taken in (``handled_once_each``).

Also here: erasure of a customer's personal data (``anonymise_customer``).
"""

from __future__ import annotations

from services.cases.stores.cases import CaseRecords
from services.cases.stores.followups import FollowupStore
from services.cases.stores.incidents import Incidents
from services.cases.stores.loads import AgentLoads
from services.cases.stores.metric_sums import MetricSums
from services.cases.stores.playbooks import PlaybookLibrary
from services.cases.stores.policies import Policies
from services.cases.stores.queries import CaseQueries
from services.cases.stores.schedule import EscalationSchedule
from services.cases.stores.trail import CaseTrail
from services.common.erasure import anonymise, redact, scrub_dead_letters
from services.common.inbox import Inbox
from services.common.mongo import Store


class CaseStore(Store):
    """The aggregate stores of the cases service over one database (built by the
    service's ``MongoStore``, one client per container; tests build it from a db)."""

    def __init__(self, db):
        super().__init__(db)
        self.inbox = Inbox(db.alert_inbox, ("alert_id",))
        self.trail = CaseTrail(db)
        self.cases = CaseRecords(db, self.trail)
        self.queries = CaseQueries(db)
        self.metric_sums = MetricSums(db)
        self.loads = AgentLoads(db)
        self.schedule = EscalationSchedule(db)
        self.policies = Policies(db)
        self.playbooks = PlaybookLibrary(db)
        self.incidents = Incidents(db, self.trail)
        self.followups = FollowupStore(db)

    def indexes(self) -> dict[str, list]:
        found: dict[str, list] = {"alert_inbox": [self.inbox.index()]}
        for part in (
            self.cases,
            self.trail,
            self.schedule,
            self.queries,
            self.metric_sums,
            self.queries.collaborations,
            self.playbooks,
            self.incidents,
            self.followups,
        ):
            for collection, models in part.indexes().items():
                found.setdefault(collection, []).extend(models)
        return found

    def ensure_indexes(self) -> None:
        super().ensure_indexes()
        self.queries.collaborations.start()  # once per store: are the queue's hints complete?

    def stats(self) -> dict:
        return {
            **self.queries.counts(),
            "followups": self.followups.counts(),
            "dead_letters": self.dead_letter_counts(),
        }


# -- erasure (customer_erased) -----------------------------------------------------------------

CASE_PERSONAL = ("customer.name", "event.text", "event.tags", "trace")


def anonymise_customer(db, customer_ids: list[str]) -> dict:
    """Remove an erased customer's personal data from the cases service's collections:
    the name (also out of case titles and comments, where agents may have written it),
    the comment text, tags and rule trace of the alert each case was opened for, and
    dead-letter previews. Case ids, statuses, owners, SLA clocks, milestones and counts
    stay. Idempotent."""
    ids = {"$in": list(customer_ids)}
    cases = list(db.cases.find({"customer.id": ids}, {"customer": 1, "rule": 1, "kind": 1}))
    names = {name for c in cases if (name := (c.get("customer") or {}).get("name")) is not None}
    # the title is "<rule> · <customer name>": rebuild it with the id (an incident's names
    # its group, not the customer whose event tipped it)
    for case in (c for c in cases if c.get("kind") != "incident"):
        title = f"{(case.get('rule') or {}).get('name', '')} · {case['customer']['id']}"[:300]
        db.cases.update_one({"_id": case["_id"]}, {"$set": {"title": title}})
    comments = 0
    if names:
        for comment in db.case_comments.find({"case_id": {"$in": [c["_id"] for c in cases]}}):
            text = redact(comment.get("text") or "", names)
            if text != comment.get("text"):
                comments += db.case_comments.update_one(
                    {"_id": comment["_id"]}, {"$set": {"text": text}}
                ).modified_count
    return {
        "cases": anonymise(db.cases, {"customer.id": ids}, CASE_PERSONAL),
        "comments": comments,
        "dead_letters": scrub_dead_letters(db, customer_ids),
    }
