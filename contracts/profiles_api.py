"""Request payloads of the profiles service's RPC API (体验档案 queries and admin acts).

Each RPC loads its arguments with one of these schemas, so a bad argument comes
back as a ``BadRequest`` naming the field (``days: Must be greater than or
equal to 1.``). ``now`` is optional everywhere: callers (tests, replays) may
pin the clock; it defaults to the service's current time.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from contracts.base import StrictInt, bounded_str, id_str

SEGMENTS = ("detractors_with_open_case", "nps_drop", "no_contact")
TREND_BUCKETS = ("day", "week")
TREND_SEGMENT_KEYS = ("tier", "channel", "touchpoint")


class _Request(Schema):
    class Meta:
        unknown = RAISE


class Page(_Request):
    limit = StrictInt(load_default=50, validate=validate.Range(min=1, max=500))
    skip = StrictInt(load_default=0, validate=validate.Range(min=0))


class ShowProfile(_Request):
    customer_id = id_str(128, required=True)
    timeline_limit = StrictInt(load_default=50, validate=validate.Range(min=0, max=500))
    timeline_skip = StrictInt(load_default=0, validate=validate.Range(min=0))
    now = fields.AwareDateTime(load_default=None, format="iso")


class Search(Page):
    name = bounded_str(200, load_default=None)
    phone = bounded_str(64, load_default=None)
    email = bounded_str(320, load_default=None)

    @validates_schema
    def _one_key(self, data, **_):
        if not any(data.get(k) for k in ("name", "phone", "email")):
            raise ValidationError("give at least one of name, phone, email", "name")


class Segment(Page):
    segment = fields.String(required=True, validate=validate.OneOf(SEGMENTS))
    tier = bounded_str(32, load_default="vip", metadata={"description": "nps_drop: the tier to watch"})
    drop = fields.Float(load_default=2.0, validate=validate.Range(min=0, min_inclusive=False))
    days = StrictInt(load_default=30, validate=validate.Range(min=1, max=3650))
    now = fields.AwareDateTime(load_default=None, format="iso")


class Fatigue(_Request):
    customer_id = id_str(128, required=True)
    days = StrictInt(load_default=30, validate=validate.Range(min=1, max=3650))
    limit = StrictInt(
        load_default=None, validate=validate.Range(min=1), metadata={"description": "contacts allowed"}
    )
    now = fields.AwareDateTime(load_default=None, format="iso")


class Contact(_Request):
    customer_id = id_str(128, required=True)
    fatigue_days = StrictInt(
        load_default=None,
        validate=validate.Range(min=1, max=3650),
        metadata={"description": "also count the contacts of the last N days"},
    )
    now = fields.AwareDateTime(load_default=None, format="iso")


class Merge(_Request):
    survivor = id_str(128, required=True)
    merged = id_str(128, required=True)
    by = id_str(128, required=True)
    reason = bounded_str(1000, required=True)
    now = fields.AwareDateTime(load_default=None, format="iso")


class Erase(_Request):
    customer_id = id_str(128, required=True)
    by = id_str(128, required=True)
    request_ref = id_str(
        128, required=True, metadata={"description": "the data-subject request's reference; no personal data"}
    )
    now = fields.AwareDateTime(load_default=None, format="iso")


class AspectsByTouchpoint(_Request):
    """``profiles.aspects_by_touchpoint``: what comments were about, per touchpoint, in ``[since, until)``."""

    since = fields.AwareDateTime(required=True, format="iso")
    until = fields.AwareDateTime(required=True, format="iso")

    @validates_schema
    def _range(self, data, **_):
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise ValidationError("must be later than since", "until")


class ScoreTrend(_Request):
    """``profiles.score_trend``: global NPS / CSAT / CES per day or week in ``[since, until)``."""

    since = fields.AwareDateTime(required=True, format="iso")
    until = fields.AwareDateTime(required=True, format="iso")
    bucket = fields.String(load_default="day", validate=validate.OneOf(TREND_BUCKETS))
    segment = bounded_str(
        160,
        load_default=None,
        metadata={"description": "tier:NAME, channel:NAME or touchpoint:NAME (customers' current tier)"},
    )
    timezone = bounded_str(
        64, load_default="Asia/Shanghai", metadata={"description": "IANA zone of the buckets"}
    )

    @validates_schema
    def _range(self, data, **_):
        _check_trend(data, [data["segment"]] if data.get("segment") is not None else [], "segment")


class ScoreTrends(_Request):
    """``profiles.score_trends``: ``score_trend`` of several segments in one read (the
    journey board's touchpoints)."""

    since = fields.AwareDateTime(required=True, format="iso")
    until = fields.AwareDateTime(required=True, format="iso")
    bucket = fields.String(load_default="day", validate=validate.OneOf(TREND_BUCKETS))
    segments = fields.List(
        bounded_str(160),
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "each tier:NAME, channel:NAME or touchpoint:NAME"},
    )
    timezone = bounded_str(
        64, load_default="Asia/Shanghai", metadata={"description": "IANA zone of the buckets"}
    )

    @validates_schema
    def _range(self, data, **_):
        _check_trend(data, data.get("segments") or [], "segments")


def _check_trend(data: dict, segments: list[str], field: str) -> None:
    """A trend request's range, segments and zone."""
    if data.get("since") and data.get("until") and data["until"] <= data["since"]:
        raise ValidationError("must be later than since", "until")
    for segment in segments:
        key, _, value = segment.partition(":")
        if key not in TREND_SEGMENT_KEYS or not value:
            raise ValidationError(f"one of {', '.join(k + ':NAME' for k in TREND_SEGMENT_KEYS)}", field)
    zone = data.get("timezone")
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"unknown time zone {zone!r}", "timezone") from None


class WordFrequency(_Request):
    """``profiles.word_frequency``: top comment keywords and category counts, per local day range."""

    customer_id = id_str(128, load_default=None, metadata={"description": "omit for everyone"})
    since = fields.AwareDateTime(
        load_default=None, format="iso", metadata={"description": "default: 30 days ago"}
    )
    until = fields.AwareDateTime(load_default=None, format="iso", metadata={"description": "default: now"})
    limit = StrictInt(load_default=20, validate=validate.Range(min=1, max=500))

    @validates_schema
    def _range(self, data, **_):
        if data.get("since") and data.get("until") and data["until"] < data["since"]:
            raise ValidationError("must not be earlier than since", "until")
