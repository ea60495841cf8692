"""The cases service's nameko extensions: its store provider and its configured timers."""

from __future__ import annotations

from nameko.timer import Timer

from contracts.feedback import FOLLOWUP_BINDING
from services.cases.followup import answer_problems
from services.cases.store import CaseStore
from services.common import settings
from services.common.feedback import FeedbackConsumer
from services.common.messaging import InvalidMessage
from services.common.mongo import MongoStore


class CaseStores(MongoStore):
    """Injects ``CaseStore``: the service's stores, one per aggregate (cases and open
    keys, case reads, agent loads and turns, the escalation schedule, audit and
    comments, policies and directory) over its database; one Mongo client per
    container, indexes ensured at start."""

    def __init__(self):
        super().__init__(CaseStore)


class ConfiguredTimer(Timer):
    """A timer whose interval is a setting, read from the config at setup."""

    setting = ""

    def __init__(self, **kwargs):
        super().__init__(interval=5.0, **kwargs)

    def setup(self):
        self.interval = float(settings.get(self.setting))
        super().setup()


class EscalationSweep(ConfiguredTimer):
    setting = "ESCALATION_SWEEP_SECONDS"


class LoadRecount(ConfiguredTimer):
    setting = "LOAD_RECOUNT_SECONDS"


class FollowupAnswers(FeedbackConsumer):
    """Follow-up survey answers: feedback events v1 on ``feedback.<channel>.followup``
    only (the cases service never takes the ordinary stream). An event there that cannot
    be an answer (no ``case_id``, no ``attributes.followup_nonce``, no CSAT or NPS score)
    is dead-lettered with the reason naming the field."""

    def __init__(self, **kwargs):
        super().__init__(routing_key=FOLLOWUP_BINDING, **kwargs)

    def parse(self, body, message) -> tuple:
        (event,) = super().parse(body, message)
        problems = answer_problems(event)
        if problems:
            raise InvalidMessage("follow-up answer: " + "; ".join(problems))
        return (event,)
