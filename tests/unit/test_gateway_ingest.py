"""Feedback ingestion (services/gateway/ingest.py) without a broker: what is published, what is refused."""

from __future__ import annotations

import pytest

from services.gateway.errors import HttpError
from services.gateway.ingest import MAX_BATCH, ingest, rejected


def event(event_id="ev-1", channel="wechat", **extra):
    return {
        "schema_version": 1,
        "event_id": event_id,
        "source": "survey-app",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "customer": {"id": "C42"},
        "channel": channel,
        "touchpoint": "delivery",
        "scores": {"nps": 2},
        **extra,
    }


class Published(list):
    def __call__(self, item, channel):
        self.append((item["event_id"], channel))


def test_one_valid_event_is_published_on_its_channel():
    published = Published()
    status, body = ingest(event(channel="app"), published)
    assert status == 202
    assert published == [("ev-1", "app")]
    assert body == {
        "accepted": 1,
        "rejected": 0,
        "results": [{"index": 0, "status": "accepted", "source": "survey-app", "event_id": "ev-1"}],
    }


def test_one_invalid_event_is_a_400_naming_the_field_and_nothing_is_published():
    published = Published()
    with pytest.raises(HttpError) as caught:
        ingest(event(scores={"nps": 11}), published)
    assert caught.value.status == 400
    assert [e["field"] for e in caught.value.errors] == ["scores.nps"]
    assert published == []


def test_a_batch_publishes_the_valid_items_and_lists_the_others():
    published = Published()
    broken = event("ev-2")
    del broken["event_id"]
    status, body = ingest([event("ev-1"), broken, "not an object", event("ev-4")], published)
    assert status == 202
    assert published == [("ev-1", "wechat"), ("ev-4", "wechat")]
    assert (body["accepted"], body["rejected"]) == (2, 2)
    assert [r["status"] for r in body["results"]] == ["accepted", "rejected", "rejected", "accepted"]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert body["results"][1]["errors"] == [
        {"field": "event_id", "message": "Missing data for required field."}
    ]
    assert body["results"][2]["errors"] == [
        {"field": "_schema", "message": "each event must be a JSON object"}
    ]


def test_a_batch_where_every_item_is_invalid_is_still_a_202():
    status, body = ingest([event(scores={"nps": -1})], Published())
    assert status == 202 and body["accepted"] == 0 and body["rejected"] == 1


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
def test_an_empty_or_oversized_batch_is_refused_before_any_item_is_published(size):
    published = Published()
    with pytest.raises(HttpError) as caught:
        ingest([event(f"ev-{i}") for i in range(size)], published)
    assert caught.value.status == 400
    assert caught.value.errors == [{"field": "body", "message": f"a batch holds 1 to {MAX_BATCH} events"}]
    assert published == []


def test_a_full_batch_is_accepted():
    published = Published()
    status, body = ingest([event(f"ev-{i}") for i in range(MAX_BATCH)], published)
    assert status == 202 and body["accepted"] == MAX_BATCH and len(published) == MAX_BATCH


def test_contract_reasons_become_field_errors():
    assert rejected("schema: a: bad; b.c: worse") == [
        {"field": "a", "message": "bad"},
        {"field": "b.c", "message": "worse"},
    ]
    assert rejected("body is not UTF-8: x") == [{"field": "_schema", "message": "body is not UTF-8: x"}]
