"""Every batch consumer of profiles lingers PROFILE_BATCH_LINGER_MS before an idle batch
(docs/reliability.md "Batches"); the alert path's consumers do not."""

from __future__ import annotations

import inspect

from services.alerts.service import AlertsService
from services.cases.service import CasesService
from services.common.batching import BatchingMixin
from services.notify.service import NotifyService
from services.profiles.service import ProfilesService


def batch_entrypoints(cls) -> dict[str, BatchingMixin]:
    found = {}
    for name, method in inspect.getmembers(cls, inspect.isfunction):
        for entrypoint in getattr(method, "nameko_entrypoints", ()):
            if isinstance(entrypoint, BatchingMixin):
                found[name] = entrypoint
    return found


def test_profiles_consumers_linger_and_the_alert_path_does_not():
    lingering = batch_entrypoints(ProfilesService)
    assert set(lingering) >= {"handle_feedback", "handle_alerts_taken_in", "handle_case_status_changed"}
    assert {e.linger_setting for e in lingering.values()} == {"PROFILE_BATCH_LINGER_MS"}
    for cls in (AlertsService, CasesService, NotifyService):
        entrypoints = batch_entrypoints(cls)
        assert entrypoints and all(e.linger_setting is None for e in entrypoints.values()), cls.__name__
