"""Queries on profiles: one profile with its timeline page, search, segments, fatigue, trends, words.

Read only. Rolling scores are computed on read from the timeline (``scores.py``):
they depend on ``now``, so a stored average would be stale the next day.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from pymongo import ASCENDING, DESCENDING

from contracts.base import utcnow
from services.common.errors import BadRequest
from services.profiles.aspects import entry_counts, per_touchpoint, recent_aspects
from services.profiles.documents import ProfileDocuments
from services.profiles.feedback_counts import HOUR, at_hour, counter_fields, hour_of, hours_between
from services.profiles.profile import INTERNAL_FIELDS, normalise_email, normalise_name, normalise_phone
from services.profiles.scores import HORIZON_DAYS, TREND_DAYS, points, rolling, series, trend
from services.profiles.trend import bucket_edges, hour_aligned, score_trend
from services.profiles.words import EVERYONE


class Queries(ProfileDocuments):
    """Reads profiles, their timelines and word counts."""

    def _scored_entries(
        self, customer_ids: list[str], since: datetime, until: datetime, *more: str
    ) -> list[dict]:
        return list(
            self.db.timeline.find(
                {
                    "customer_id": {"$in": customer_ids} if len(customer_ids) > 1 else customer_ids[0],
                    "kind": "feedback",
                    "at": {"$gt": since, "$lte": until},
                },
                {"customer_id": 1, "at": 1, "scores": 1, **dict.fromkeys(more, 1)},
            )
        )

    def _recent_entries(self, customer_id: str, now: datetime) -> list[dict]:
        """The customer's feedback entries of the rolling-score horizon, with their insight.

        An aggregate ``$match`` on plain equalities, newest first, read until the horizon:
        the embedded store answers it from the (customer_id, kind, at) index, whereas its
        ``find`` on the same filter scans the whole timeline (docs/store.md); the time
        bounds are applied here (a datetime range inside ``$match`` is not compared as
        time there)."""
        since = now - timedelta(days=HORIZON_DAYS)
        entries = []
        match = {"customer_id": customer_id, "kind": "feedback"}
        with self.db.timeline.aggregate([{"$match": match}, {"$sort": {"at": DESCENDING}}]) as cursor:
            for entry in cursor:
                if entry["at"] <= since:
                    break
                if entry["at"] <= now:
                    entries.append(entry)
        return entries

    def rolling_scores(self, profile: dict, now: datetime) -> dict:
        return rolling(self._recent_entries(profile["_id"], now), now, profile.get("latest"))

    def get_profile(
        self,
        customer_id: str,
        timeline_limit: int = 50,
        *,
        now: datetime | None = None,
        timeline_skip: int = 0,
    ) -> dict | None:
        """The profile (after merges) with rolling scores, each score's points of the last
        90 days (``score_points``, for a chart) and the most frequent aspects of the last
        30 and 90 days as of ``now``, and one page of its timeline, newest first, with
        the timeline's size (``timeline_total``); None when there is none."""
        target = self.resolve(customer_id)
        profile = self.db.profiles.find_one({"_id": target})
        if profile is None:
            return None
        now = now or utcnow()
        if target != customer_id:
            profile["resolved_from"] = customer_id
        profile["erased"] = "erased_at" in profile
        profile["merged_ids"] = self.merged_ids(target)
        profile["open_cases"] = sorted(
            (profile.get("open_cases") or {}).values(), key=lambda c: (c["level"], c["opened_at"])
        )
        for field in ("case_state", *INTERNAL_FIELDS):
            profile.pop(field, None)
        profile["contacts_by_channel"] = {
            channel: {
                "count": count,
                "last_at": (profile.get("channel_last") or {}).get(channel, {}).get("at"),
            }
            for channel, count in sorted((profile.get("channels") or {}).items())
        }
        recent = self._recent_entries(target, now)  # one read for the scores and the aspects
        profile["scores"] = rolling(recent, now, profile.get("latest"))
        profile["score_points"] = points(recent, now)
        profile["scores_as_of"] = now
        profile.setdefault("aspect_counts", {})
        profile["aspects_recent"] = recent_aspects(recent, now)
        # aggregate, not find: the embedded store's find scans the timeline (_recent_entries)
        page: list[dict] = [
            {"$match": {"customer_id": target}},
            {"$sort": {"at": DESCENDING, "_id": ASCENDING}},
            {"$skip": timeline_skip},
            {"$limit": timeline_limit},
        ]
        profile["timeline"] = list(self.db.timeline.aggregate(page)) if timeline_limit else []
        # $match + $count: the embedded store counts it in SQL (count_documents: in Python)
        counted = list(self.db.timeline.aggregate([{"$match": {"customer_id": target}}, {"$count": "n"}]))
        profile["timeline_total"] = counted[0]["n"] if counted else 0
        profile["timeline_skip"] = timeline_skip
        return profile

    def contact_fatigue(self, customer_id: str, days: int, now: datetime, limit: int | None = None) -> dict:
        """Contacts in the last ``days`` days: feedback given (surveys answered) and
        messages sent to the customer (``outbound``, recorded from notify's
        ``customer_message_outcome``); with ``limit``, ``fatigued`` says whether
        contacting them again would exceed it."""
        target = self.resolve(customer_id)
        since = now - timedelta(days=days)
        entries = list(
            self.db.timeline.find(
                {
                    "customer_id": target,
                    "kind": {"$in": ["feedback", "customer_message"]},
                    "at": {"$gt": since, "$lte": now},
                },
                {"at": 1, "channel": 1, "survey": 1, "kind": 1},
            )
        )
        by_channel: dict[str, int] = {}
        for e in entries:
            by_channel[e["channel"]] = by_channel.get(e["channel"], 0) + 1
        outbound = sum(1 for e in entries if e["kind"] == "customer_message")
        return {
            "customer_id": target,
            "days": days,
            "since": since,
            "now": now,
            "contacts": len(entries),
            "feedback": len(entries) - outbound,
            "outbound": outbound,
            "surveys": sum(1 for e in entries if e.get("survey")),
            "by_channel": by_channel,
            "last_contact_at": max((e["at"] for e in entries), default=None),
            "limit": limit,
            "fatigued": None if limit is None else len(entries) >= limit,
        }

    def customer_contact(
        self, customer_id: str, fatigue_days: int | None = None, now: datetime | None = None
    ) -> dict:
        """Where the customer can be reached (for notify's customer messages): phone,
        email, WeChat openid and time zone from the newest identity (the feedback
        event's ``customer`` and its ``attributes.wechat_openid`` / ``timezone``).
        An erased customer, or one never seen, has no contact details. With
        ``fatigue_days``, their ``contact_fatigue`` over those days too."""
        out = self._contact(self.resolve(customer_id))
        if fatigue_days is not None:
            out["fatigue"] = self.contact_fatigue(out["customer_id"], fatigue_days, now or utcnow())
        return out

    def _contact(self, target: str) -> dict:
        profile = self.db.profiles.find_one({"_id": target}, {"identity": 1, "erased_at": 1})
        erased = self.is_erased(target) or bool(profile and profile.get("erased_at"))
        if profile is None or erased:
            return {"customer_id": target, "known": profile is not None, "erased": erased}
        identity = profile.get("identity") or {}
        attributes = identity.get("attributes") or {}
        return {
            "customer_id": target,
            "known": True,
            "erased": False,
            "phone": identity.get("phone"),
            "email": identity.get("email"),
            "wechat_openid": attributes.get("wechat_openid"),
            "timezone": attributes.get("timezone"),
            "name": identity.get("name"),
        }

    def search(self, *, name=None, phone=None, email=None, limit: int = 20, skip: int = 0) -> list[dict]:
        query: dict = {}
        if phone:
            query["search.phone"] = normalise_phone(phone)
        if email:
            query["search.email"] = normalise_email(email)
        if name:
            query["search.name"] = {"$regex": re.escape(normalise_name(name))}
        if not query:
            raise BadRequest("name/phone/email: give at least one")
        return list(
            self.db.profiles.find(query, {"identity": 1, "last_contact": 1, "feedback_count": 1})
            .sort("_id", ASCENDING)
            .skip(skip)
            .limit(limit)
        )

    # -- segments ----------------------------------------------------------------------------

    def segment(self, segment: str, limit: int, skip: int, **given) -> list[dict]:
        """One page of a segment's customers: ``detractors_with_open_case``, ``nps_drop``
        (``tier``, ``drop``, ``now``) or ``no_contact`` (``days``, ``now``)."""
        if segment == "detractors_with_open_case":
            return self.segment_detractors_with_open_case(limit, skip)
        if segment == "nps_drop":
            return self.segment_nps_drop(given["tier"], given["drop"], given["now"], limit, skip)
        return self.segment_no_contact(given["days"], given["now"], limit, skip)

    def segment_detractors_with_open_case(self, limit: int, skip: int) -> list[dict]:
        # "has an open case" is a non-empty keyed subdocument, which the portable
        # query subset cannot test; detractors are few, so filter them here.
        rows = [
            p
            for p in self.db.profiles.find(
                {"latest.nps.value": {"$lte": 6}}, {"identity": 1, "latest": 1, "open_cases": 1}
            ).sort("_id", ASCENDING)
            if p.get("open_cases")
        ]
        for p in rows:
            p["open_cases"] = sorted(p["open_cases"].values(), key=lambda c: c["level"])
        return rows[skip : skip + limit]

    def segment_nps_drop(self, tier: str, drop: float, now: datetime, limit: int, skip: int) -> list[dict]:
        """Customers of ``tier`` whose 30-day NPS average fell by at least ``drop``."""
        profiles = {p["_id"]: p for p in self.db.profiles.find({"identity.tier": tier}, {"identity": 1})}
        if not profiles:
            return []
        entries = self._scored_entries(list(profiles), now - timedelta(days=2 * TREND_DAYS), now)
        by_customer: dict[str, list[dict]] = {}
        for e in entries:
            by_customer.setdefault(e["customer_id"], []).append(e)
        rows = []
        for customer_id in sorted(by_customer):
            t = trend("nps", series(by_customer[customer_id], "nps", now), now)
            if t is not None and t["delta"] <= -drop:
                rows.append({**profiles[customer_id], "nps_trend": t})
        return rows[skip : skip + limit]

    def segment_no_contact(self, days: int, now: datetime, limit: int, skip: int) -> list[dict]:
        return list(
            self.db.profiles.find(
                {"last_contact.at": {"$lte": now - timedelta(days=days)}},
                {"identity": 1, "last_contact": 1},
            )
            .sort([("last_contact.at", ASCENDING), ("_id", ASCENDING)])
            .skip(skip)
            .limit(limit)
        )

    # -- across customers --------------------------------------------------------------------

    def scored_feedback(
        self, since: datetime, until: datetime, segment: str | None, *more: str
    ) -> list[dict]:
        """Every scored feedback entry with ``since <= at < until`` (bounds widened to whole
        seconds for nx-27017, exact bounds applied by the caller), of customers in
        ``segment`` (``tier:``, ``channel:`` or ``touchpoint:`` NAME) when given."""
        query: dict = {
            "kind": "feedback",
            "at": {
                "$gte": since.replace(microsecond=0),
                "$lt": until.replace(microsecond=0) + timedelta(seconds=1),
            },
        }
        if segment is not None:
            key, _, value = segment.partition(":")
            if key == "tier":
                query["customer_id"] = {
                    "$in": [p["_id"] for p in self.db.profiles.find({"identity.tier": value}, {"_id": 1})]
                }
            else:
                query[key] = value
        fields = {"at": 1, "scores": 1, **dict.fromkeys(more, 1)}
        return [e for e in self.db.timeline.find(query, fields) if e.get("scores")]

    def score_trend(
        self, since: datetime, until: datetime, bucket: str, segment: str | None, timezone: str
    ) -> dict:
        """``trend.score_trend`` of ``[since, until)``: its counted whole hours from the
        hourly counters (``feedback_counts.py``), the rest from the timeline (the partial
        hours at either end, hours before counting began, a ``tier:`` segment, a zone
        whose days do not start on a whole UTC hour)."""
        return self.score_trends(since, until, bucket, [segment], timezone)[0]

    def score_trends(
        self, since: datetime, until: datetime, bucket: str, segments: list[str | None], timezone: str
    ) -> list[dict]:
        """``score_trend`` of each of ``segments`` (None: all feedback), from one read of
        the counters and one of the timeline for all but ``tier:`` segments."""
        out: dict[int, dict] = {}
        plain = [(k, s) for k, s in enumerate(segments) if not (s or "").startswith("tier:")]
        for k in set(range(len(segments))) - {k for k, _ in plain}:  # customers' current tier
            entries = self.scored_feedback(since, until, segments[k])
            out[k] = score_trend(entries, since, until, bucket, timezone)
        hours = None
        if plain and hour_aligned(since, until, bucket, timezone):
            hours = hours_between(since, until, self.counts.counted_from())
        only = plain[0][1] if len(plain) == 1 else None  # one segment: the store filters it

        def fetch(a: datetime, b: datetime) -> list[dict]:
            return self.scored_feedback(a, b, only, "touchpoint", "channel")

        entries = self._uncounted(fetch, since, until, hours) if plain else []
        docs = self.counts.documents(hours, bucket_edges(since, until, bucket, timezone)) if hours else []
        for k, segment in plain:
            dim, _, key = (segment or "all:").partition(":")
            mine = [e for e in entries if e.get("scores") and (dim == "all" or e.get(dim) == key)]
            out[k] = score_trend(mine, since, until, bucket, timezone, counter_fields(docs, dim, key or None))
        return [out[k] for k in range(len(segments))]

    def aspects_by_touchpoint(self, since: datetime, until: datetime) -> list[dict]:
        """``aspects.per_touchpoint`` of ``[since, until)``, counted as ``score_trend`` is."""
        hours = hours_between(since, until, self.counts.counted_from())
        entries = self._uncounted(self.feedback_about, since, until, hours)
        counted = self.counts.per_touchpoint(hours) if hours else []
        return per_touchpoint([(e.get("touchpoint"), entry_counts(e)) for e in entries] + counted)

    def _uncounted(
        self, fetch, since: datetime, until: datetime, hours: tuple[int, int] | None
    ) -> list[dict]:
        """The feedback entries for the parts of ``[since, until)`` outside the counted
        ``hours``, within their exact bounds (the store widens them): a part inside one
        counted hour by the entries' ``hour`` (``FeedbackCounts.hour_entries``), others
        by ``fetch(a, b)`` (a ``find`` by time, which reads the whole timeline here)."""
        parts = (
            [(since, until)] if hours is None else [(since, at_hour(hours[0])), (at_hour(hours[1]), until)]
        )
        counted = self.counts.counted_from() if hours is not None else None
        out = []
        for a, b in parts:
            hour = hour_of(a)
            inside = counted is not None and at_hour(hour) >= counted and b <= at_hour(hour + HOUR)
            if a < b:
                got = self.counts.hour_entries(hour) if inside else fetch(a, b)
                out += [e for e in got if a <= e["at"] < b]
        return out

    def scored_comments(self, since: datetime, until: datetime, limit: int) -> list[dict]:
        """The newest ``limit`` feedback entries of ``[since, until)`` with a comment and
        scores (an erased customer's have no comment): what the polarity model learns from."""
        query = {
            "kind": "feedback",
            "at": {"$gte": since, "$lt": until},
            "text": {"$exists": True},
            "scores": {"$exists": True},
        }
        fields = {"event_id": 1, "source": 1, "text": 1, "scores": 1}
        return list(self.db.timeline.find(query, fields).sort("at", DESCENDING).limit(limit))

    def feedback_about(self, since: datetime, until: datetime) -> list[dict]:
        """Every feedback entry with ``since <= at < until``: its touchpoint and what its
        comment was about (``insight``, the text for entries recorded before aspects)."""
        query = {
            "kind": "feedback",
            "at": {
                "$gte": since.replace(microsecond=0),
                "$lt": until.replace(microsecond=0) + timedelta(seconds=1),
            },
        }
        fields = {"at": 1, "touchpoint": 1, "insight": 1, "text": 1}  # whole fields (docs/store.md)
        return [e for e in self.db.timeline.find(query, fields) if since <= e["at"] < until]

    def word_frequency(self, customer_id: str | None, since: date, until: date, limit: int) -> dict:
        """Top keywords and category counts of one customer's comments (after merges),
        or everyone's, in the local days ``since..until``."""
        scope = EVERYONE if customer_id is None else self.resolve(customer_id)
        return {
            "customer_id": None if scope == EVERYONE else scope,
            "since": since.isoformat(),
            "until": until.isoformat(),
            **self.words.frequency(scope, since, until, limit),
        }
