"""The cases service's nameko extensions: its store provider and its configured timers."""

from __future__ import annotations

from nameko.timer import Timer

from services.cases.store import CaseStore
from services.common import settings
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
