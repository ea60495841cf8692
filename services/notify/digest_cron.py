"""Digests fired by APScheduler: one cron job per owner, in every replica, claimed once.

``DigestScheduler`` keeps an APScheduler scheduler (``EventletScheduler``, in-memory
job store: nothing pickled, nothing shared) with one job per person whose cron
trigger is ``digest.trigger`` (the owner's time, weekday and time zone). Every
replica runs one, so every replica's job fires at 09:00; the job only asks
for the person's digest, and ``DigestRunner.run(now, person_id)`` runs it only
after winning the lease on the person's ``digests`` document whose
``next_run_at`` is that same cron moment: exactly one replica sends it.

The jobs follow the directory: a ``sync`` job (at start, then every
``SYNC_SECONDS``) reloads the schedules and catches up on digests that were
due while no replica was up (one per person, not a backlog).

In the service, ``DigestCron`` is a Nameko entrypoint around the scheduler: a
firing job spawns a worker of the decorated method with the person id (or
``None`` for the sync, whose result — the schedules — is fed back to the
scheduler), so the method has the service's dependencies (store, channels,
the cases RPC).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import eventlet
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.base import STATE_STOPPED, BaseScheduler
from nameko.extensions import Entrypoint

from services.notify.digest import trigger

log = logging.getLogger(__name__)

SYNC_JOB = "digest-schedules"
SYNC_SECONDS = 60.0
# A job that could not run at its time (the process was busy or paused) still runs
# within this many seconds; coalesced, so a late scheduler fires once, not per miss.
MISFIRE_GRACE = 3600


class EventletScheduler(BaseScheduler):
    """An APScheduler scheduler driven by an eventlet timer, as APScheduler's own
    gevent/asyncio schedulers are by theirs: no OS thread to join on shutdown (a
    ``BackgroundScheduler`` thread could hang a container's stop under eventlet).
    Jobs run inline (``DebugExecutor``); ours only hand the work to a Nameko worker."""

    _timer = None

    def shutdown(self, wait=True):
        super().shutdown(wait)
        self._stop_timer()

    def wakeup(self):
        # never inline: wakeup is called from add_job/modify_job, possibly inside a job
        self._stop_timer()
        self._timer = eventlet.spawn_after(0, self._process)

    def _process(self):
        self._timer = None
        wait_seconds = self._process_jobs()
        if wait_seconds is not None and self.state != STATE_STOPPED:
            self._timer = eventlet.spawn_after(wait_seconds, self._process)

    def _stop_timer(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _create_default_executor(self):
        return DebugExecutor()


class DigestScheduler:
    """APScheduler jobs of the digest schedules; ``fire(person_id)`` when one is due,
    ``fire(None)`` to reload and catch up (its answer goes to ``sync``). ``fire`` runs
    in its own green thread, never holding the scheduler."""

    def __init__(self, fire: Callable[[str | None], None], sync_seconds: float = SYNC_SECONDS):
        self.fire = fire
        self.sync_seconds = sync_seconds
        self.scheduler = EventletScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE},
        )
        self.triggers: dict[str, str] = {}  # person -> the trigger it was scheduled with

    def _spawn(self, person_id: str | None) -> None:
        eventlet.spawn_n(self.fire, person_id)

    def start(self) -> None:
        self.scheduler.add_job(
            self._spawn,
            "interval",
            seconds=self.sync_seconds,
            args=[None],
            id=SYNC_JOB,
            next_run_time=datetime.now(UTC),
        )
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def sync(self, schedules: list[dict]) -> None:
        """Make the jobs match ``schedules`` (``{person_id, schedule, timezone}``)."""
        wanted = {}
        for row in schedules:
            try:
                wanted[row["person_id"]] = trigger(row["schedule"], row["timezone"])
            except Exception:  # a bad stored schedule must not stop everyone else's
                log.exception("digest schedule of %s cannot be scheduled", row["person_id"])
        for person_id in set(self.triggers) - set(wanted):
            self.scheduler.remove_job(self._job_id(person_id))
            del self.triggers[person_id]
        for person_id, cron in wanted.items():
            if self.triggers.get(person_id) == repr(cron):
                continue
            self.scheduler.add_job(
                self._spawn, cron, args=[person_id], id=self._job_id(person_id), replace_existing=True
            )
            self.triggers[person_id] = repr(cron)

    def next_fire(self, person_id: str) -> datetime | None:
        """When ``person_id``'s job fires next (also before the scheduler started)."""
        job = self.scheduler.get_job(self._job_id(person_id))
        if job is None:
            return None
        return getattr(job, "next_run_time", None) or job.trigger.get_next_fire_time(None, datetime.now(UTC))

    @staticmethod
    def _job_id(person_id: str) -> str:
        return f"digest:{person_id}"


class DigestCron(Entrypoint):
    """Nameko entrypoint: the decorated method runs for each fired digest job
    (``person_id``) and for each sync (``None``; it returns the schedules)."""

    def setup(self) -> None:
        self.cron = DigestScheduler(self._fire)

    def start(self) -> None:
        self.cron.start()

    def stop(self) -> None:
        self.cron.stop()

    def kill(self) -> None:
        self.cron.stop()

    def _fire(self, person_id: str | None) -> None:
        self.container.spawn_worker(self, (person_id,), {}, handle_result=self._handle_result)

    def _handle_result(self, worker_ctx, result, exc_info):
        person_id = worker_ctx.args[0]
        if exc_info is None and person_id is None:
            self.cron.sync(result or [])
        return result, exc_info


digest_cron = DigestCron.decorator
