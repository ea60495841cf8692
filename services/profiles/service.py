"""Profiles service: keeps each customer's experience profile (体验档案)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from marshmallow import Schema
from nameko.timer import timer

from contracts import profiles_api as api
from contracts.base import utcnow
from services.common import settings
from services.common.batching import contract_batch_handler, feedback_batch_consumer, handled_once_each
from services.common.config_signal import ConfigSignal
from services.common.errors import BadRequest, NotFound
from services.common.health import HealthServer
from services.common.lexicon import LiveLexicon
from services.common.messaging import ContractDispatcher
from services.common.mongo import jsonable
from services.common.privacy import MaskedLogs
from services.common.rpc import Id, Moment, rpc
from services.common.sentiment_models import ModelStore
from services.common.validation import load_valid
from services.profiles import training
from services.profiles.dependencies import ProfileStores
from services.profiles.recordings import (
    alert_recording,
    case_opened_recording,
    customer_message_recording,
    feedback_recording,
    profile_updated,
)
from services.profiles.store import ProfileStore
from services.profiles.trend import MAX_BUCKETS, bucket_starts
from services.profiles.words import local_day

LINGER = "PROFILE_BATCH_LINGER_MS"  # every consumer here: nobody waits on a profile write


def load(schema: type[Schema], **arguments) -> dict:
    """Validate RPC arguments; a bad one becomes a BadRequest naming the field."""
    data = load_valid(schema, {k: v for k, v in arguments.items() if v is not None})
    if "now" in data and data["now"] is None:
        data["now"] = utcnow()
    return data


class ProfilesService:
    name = "profiles"
    health = HealthServer()  # /livez, /readyz when HEALTH_PORT is set
    masked_logs = MaskedLogs()  # phones, emails, secrets masked in every log record

    store: ProfileStore = ProfileStores()
    dispatch = ContractDispatcher()
    # the text analysis follows the admin's lexicon edits (services/common/lexicon.py):
    # each worker installs the replica's current analyzer, which insight.py uses
    text = LiveLexicon()
    config_signal = ConfigSignal()  # keeps the lexicon cache fresh on other replicas' edits

    @feedback_batch_consumer(linger_setting=LINGER)
    @handled_once_each("feedback_inbox")
    def handle_feedback(self, events: list[dict]) -> None:
        """Merge identity, add the timeline entries, move counters and latest scores for a
        batch of events (each customer's in delivery order, its profile written once);
        the batch's ``profile_updated`` go out together."""
        profiles = self.store.recorder.record_many([feedback_recording(event) for event in events])
        for event, profile in zip(events, profiles, strict=True):
            self.dispatch("profile_updated", profile_updated(event, profile, utcnow()))

    # No inbox on these three: the profile write is itself once-only (an alert's
    # marker; the newest case status wins; a sent message's timeline key and the newest
    # last_outreach) and they announce nothing, so a redelivery costs one read
    # (docs/profiles.md "Writes").

    @contract_batch_handler("cases", "alerts_taken_in", linger_setting=LINGER)
    def handle_alerts_taken_in(self, batches: list[dict]) -> None:
        """Count each alert the cases service took in against its customer, add it to the
        timeline, and list each case a batch opened among its customer's open cases (one
        message per intake batch: services/cases/intake.py)."""
        self.store.recorder.record_many(
            [alert_recording(alert) for batch in batches for alert in batch["alerts"]]
            + [case_opened_recording(case) for batch in batches for case in batch["cases_opened"]]
        )

    @contract_batch_handler("cases", "case_status_changed", linger_setting=LINGER)
    def handle_case_status_changed(self, changes: list[dict]) -> None:
        """Case milestones: timeline entries; resolved/closed leave the open list, reopened return."""
        recorder = self.store.recorder
        recorder.record_many([recorder.case_status_recording(change) for change in changes])

    @contract_batch_handler("notify", "customer_message_outcome", linger_setting=LINGER)
    def handle_customer_message_outcome(self, outcomes: list[dict]) -> None:
        """A message sent to a customer is an outbound contact on their timeline (counted
        by contact fatigue); refused and failed ones reached nobody and record nothing."""
        sent = [customer_message_recording(o) for o in outcomes if o["status"] == "sent"]
        if sent:
            self.store.recorder.record_many(sent)

    # -- queries -------------------------------------------------------------------

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def get_profile(
        self,
        customer_id: Id,
        timeline_limit: int = 50,
        timeline_skip: int = 0,
        now: Moment | None = None,
    ) -> dict:
        """Profile with rolling scores as of ``now`` and one page of the timeline (newest first)."""
        args = load(
            api.ShowProfile,
            customer_id=customer_id,
            timeline_limit=timeline_limit,
            timeline_skip=timeline_skip,
            now=now,
        )
        profile = self.store.queries.get_profile(
            args["customer_id"], args["timeline_limit"], now=args["now"], timeline_skip=args["timeline_skip"]
        )
        if profile is None:
            raise NotFound(f"no profile for customer {customer_id}")
        return jsonable(profile)

    @rpc(expected_exceptions=BadRequest)
    def search_profiles(
        self,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        limit: int = 20,
        skip: int = 0,
    ) -> list[dict]:
        """Profiles matching every given key; phone and email are normalised, name is a substring."""
        args = load(api.Search, name=name, phone=phone, email=email, limit=limit, skip=skip)
        return jsonable(self.store.queries.search(**args))

    @rpc(expected_exceptions=BadRequest)
    def list_segment(
        self,
        segment: Id,
        limit: int = 50,
        skip: int = 0,
        tier: Id | None = None,
        drop: float | None = None,
        days: int | None = None,
        now: Moment | None = None,
    ) -> list[dict]:
        """Customers in a segment: detractors_with_open_case, nps_drop (tier, drop), no_contact (days)."""
        a = load(
            api.Segment, segment=segment, limit=limit, skip=skip, tier=tier, drop=drop, days=days, now=now
        )
        return jsonable(self.store.queries.segment(**a))

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def contact_fatigue(
        self, customer_id: Id, days: int = 30, limit: int | None = None, now: Moment | None = None
    ) -> dict:
        """How often the customer was in touch (feedback, surveys) in the last ``days`` days.

        With ``limit``, ``fatigued`` says whether contacting them again would exceed it.
        """
        a = load(api.Fatigue, customer_id=customer_id, days=days, limit=limit, now=now)
        return jsonable(self.store.queries.contact_fatigue(a["customer_id"], a["days"], a["now"], a["limit"]))

    @rpc(expected_exceptions=BadRequest)
    def customer_contact(
        self, customer_id: Id, fatigue_days: int | None = None, now: Moment | None = None
    ) -> dict:
        """Where the customer can be reached (phone, email, WeChat openid, time zone), or
        ``erased`` / not ``known``; with ``fatigue_days``, their ``contact_fatigue`` too
        (notify asks before contacting a customer)."""
        a = load(api.Contact, customer_id=customer_id, fatigue_days=fatigue_days, now=now)
        return jsonable(self.store.queries.customer_contact(a["customer_id"], a["fatigue_days"], a["now"]))

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def export_customer(self, customer_id: Id, by: Id | None = None) -> dict:
        """Everything kept about one customer: profile, timeline, aliases, audit (data-subject
        request); ``by`` (who asked) audits the export."""
        args = load(api.ShowProfile, customer_id=customer_id)
        if by is not None and (not isinstance(by, str) or not by.strip()):
            raise BadRequest("by: must be a non-empty id")
        return jsonable(self.store.privacy.export(args["customer_id"], by=by))

    @rpc(expected_exceptions=BadRequest)
    def score_trend(
        self,
        since: Moment,
        until: Moment,
        bucket: Id = "day",
        segment: str | None = None,
        timezone: str | None = None,
    ) -> dict:
        """Global NPS (promoters % − detractors %, with counts), CSAT and CES averages and
        counts per ``bucket`` (day | week, calendar buckets in ``timezone``, default
        Asia/Shanghai) over ``[since, until)``, empty buckets included, and the totals.
        ``segment``: ``tier:NAME`` (customers' current tier), ``channel:NAME`` or
        ``touchpoint:NAME``."""
        a = load(api.ScoreTrend, since=since, until=until, bucket=bucket, segment=segment, timezone=timezone)
        _within_buckets(a)
        trend = self.store.queries.score_trend(
            a["since"], a["until"], a["bucket"], a["segment"], a["timezone"]
        )
        return jsonable(trend)

    @rpc(expected_exceptions=BadRequest)
    def score_trends(
        self, since: Moment, until: Moment, bucket: Id, segments: list[str], timezone: str | None = None
    ) -> list[dict]:
        """``score_trend`` of each of ``segments`` (in that order), from one read of the
        hourly counters: the journey board asks for all its touchpoints at once."""
        a = load(
            api.ScoreTrends, since=since, until=until, bucket=bucket, segments=segments, timezone=timezone
        )
        _within_buckets(a)
        trends = self.store.queries.score_trends(
            a["since"], a["until"], a["bucket"], a["segments"], a["timezone"]
        )
        return jsonable(trends)

    @rpc(expected_exceptions=BadRequest)
    def aspects_by_touchpoint(self, since: Moment, until: Moment) -> dict:
        """What the comments of ``[since, until)`` were about, per touchpoint: feedback,
        comments and each aspect's count (services/profiles/aspects.py)."""
        a = load(api.AspectsByTouchpoint, since=since, until=until)
        rows = self.store.queries.aspects_by_touchpoint(a["since"], a["until"])
        codes = list(self.text.analyzer.lexicon.aspects)  # shipped, then added live
        return jsonable({"since": a["since"], "until": a["until"], "aspects": codes, "touchpoints": rows})

    @rpc(expected_exceptions=BadRequest)
    def word_frequency(
        self,
        customer_id: Id | None = None,
        since: Moment | None = None,
        until: Moment | None = None,
        limit: int = 20,
    ) -> dict:
        """Top ``limit`` comment keywords with counts and every category's count
        (complaint / suggestion / inquiry / praise / other) of one customer (merged ids
        resolve to their survivor) or of everyone, over the Beijing calendar days from
        ``since`` (default 30 days before ``until``) to ``until`` (default now), inclusive."""
        a = load(api.WordFrequency, customer_id=customer_id, since=since, until=until, limit=limit)
        until_at = a["until"] or utcnow()
        since_at = a["since"] or until_at - timedelta(days=30)
        since_day, until_day = local_day(since_at), local_day(until_at)
        return jsonable(self.store.queries.word_frequency(a["customer_id"], since_day, until_day, a["limit"]))

    # -- the polarity model learned from the scored comments (services/common/sentiment_models.py)

    @timer(interval=settings.get("MODEL_RETRAIN_SECONDS"))
    def retrain_on_timer(self) -> None:
        """One replica per period retrains; the others find the lease taken."""
        training.scheduled(self.store.queries, ModelStore(self.text.store), utcnow())

    @rpc
    def sentiment_models(self, limit: int = 20) -> dict:
        """The model versions (evaluation, used or why not), the one in use, its changes."""
        return jsonable(ModelStore(self.text.store).versions(limit))

    @rpc
    def retrain_sentiment_model(self, actor: Id = "cxctl") -> dict:
        """Retrain now (as the timer does): a new version unless nothing changed."""
        return jsonable(training.retrain(self.store.queries, ModelStore(self.text.store), utcnow(), actor))

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def activate_sentiment_model(self, number: int | None, reason: str, actor: Id = "cxctl") -> dict:
        """Use model version ``number`` (a rollback), or none (None: the lexicon alone)."""
        return jsonable(ModelStore(self.text.store).activate(number, actor, reason))

    # -- admin acts -------------------------------------------------------------------

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def merge_customers(
        self, survivor: Id, merged: Id, by: Id, reason: str, now: Moment | None = None
    ) -> dict:
        """Merge ``merged`` into ``survivor`` (same person, two ids); idempotent, retry-safe."""
        a = load(api.Merge, survivor=survivor, merged=merged, by=by, reason=reason, now=now)
        return jsonable(self.store.identity.merge(**a))

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def erase_customer(self, customer_id: Id, by: Id, request_ref: Id, now: Moment | None = None) -> dict:
        """Erase one customer's personal data everywhere this service keeps it (audited),
        and announce ``customer_erased`` so alerts and cases anonymise theirs."""
        a = load(api.Erase, customer_id=customer_id, by=by, request_ref=request_ref, now=now)
        out = self.store.privacy.erase(**a)
        # every time, not only the first: a repeated request also anonymises what other
        # services stored since (their handlers are idempotent)
        self.dispatch(
            "customer_erased",
            {
                "customer_id": out["customer_id"],
                "customer_ids": out["customer_ids"],
                "erased_at": a["now"],
                "request_ref": a["request_ref"],
            },
        )
        return jsonable(out)

    @rpc(expected_exceptions=(BadRequest, NotFound))
    def recount_profile(self, customer_id: Id) -> dict:
        """Repair: set a profile's counters and word counts to what its timeline says
        (merged ids resolve to their survivor); returns what changed, ``[before, after]``."""
        args = load(api.ShowProfile, customer_id=customer_id)
        return jsonable(self.store.recorder.recount(self.store.identity.resolve(args["customer_id"])))

    @rpc
    def stats(self) -> dict:
        return self.store.stats()


def _within_buckets(a: dict) -> None:
    """A trend request holds at most ``MAX_BUCKETS`` buckets."""
    if len(bucket_starts(a["since"], a["until"], a["bucket"], ZoneInfo(a["timezone"]))) > MAX_BUCKETS:
        raise BadRequest(f"until: the range holds more than {MAX_BUCKETS} {a['bucket']} buckets")
