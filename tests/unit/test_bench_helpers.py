"""Pure helpers of the benchmark campaign: py-spy summaries, footprint copies, targets,
broker deliveries and store commands per event, and the topology floor's payloads."""

import json
from collections import Counter
from pathlib import Path

from bson import ObjectId

from bench.campaign import (
    WEBHOOK_SECRET,
    HttpReceiver,
    commands_per_event,
    deliveries,
    signed_webhook_keys,
    targets,
    targets_table,
    topology_drift,
)
from bench.footprint import copy_of, extrapolate, identifiers
from bench.hotpath import function_of, parse_raw, summarise

ROOT = "main (eventlet/greenthread.py:272);handle_feedback (services/alerts/service.py:{line})"
RAW = "\n".join(
    [
        ROOT.format(line=90) + ";find_one (pymongo/collection.py:1) 6",
        ROOT.format(line=95) + ";loads (json/__init__.py:346) 3",
        "run (eventlet/hubs/hub.py:365);do_poll (eventlet/hubs/epolls.py:30) 1",
        "not a stack line",
    ]
)


def test_pyspy_raw_is_summarised_by_own_and_by_our_total_time():
    summary = summarise(parse_raw(RAW))
    assert summary["samples"] == 10
    assert [(r["function"], r["samples"]) for r in summary["own"]] == [
        ("find_one (pymongo/collection.py)", 6),
        ("loads (json/__init__.py)", 3),
        ("do_poll (eventlet/hubs/epolls.py)", 1),
    ]
    # lines of one function are one function; only the project's own code is listed by total
    assert [(r["function"], r["share"]) for r in summary["total"]] == [
        ("handle_feedback (services/alerts/service.py)", 0.9)
    ]
    assert function_of("<module> (<string>:3)") == "<module> (<string>)"


def test_footprint_copies_get_distinct_ids_and_keep_their_references():
    collections = {
        "cases": [{"_id": "CASE-1", "alert_id": "AL-1", "customer": {"id": "B1"}, "n": 1}],
        "open_keys": [{"_id": "B1|rule", "case_id": "CASE-1"}],
        "inbox": [{"_id": ObjectId(), "key": "m-1"}],
    }
    ids = identifiers(collections, {"cases": {"alert_id"}, "inbox": {"key"}})
    assert ids == {"CASE-1", "AL-1", "B1|rule", "m-1"}
    case = copy_of(collections["cases"][0], ids, "~3")
    assert case == {"_id": "CASE-1~3", "alert_id": "AL-1~3", "customer": {"id": "B1"}, "n": 1}
    assert copy_of(collections["open_keys"][0], ids, "~3")["case_id"] == "CASE-1~3"
    inbox = copy_of(collections["inbox"][0], ids, "~3")
    assert inbox["_id"] != collections["inbox"][0]["_id"] and inbox["key"] == "m-1~3"
    assert copy_of({"_id": 7}, ids, "~3")["_id"] == "7~3"
    per = {"store_bytes_per_unit": {"data": 900.0, "index": 100.0}, "bson_bytes_per_unit": 500.0}
    scaled = extrapolate(per, 1000)
    assert scaled["store_bytes"] == 1_000_000 and scaled["bson_bytes"] == 500_000


def _leg(rate: float, p99: float, p50: float = 0.0) -> dict:
    return {"delivered": 1, "rate": rate, "latency_s": {"p50": p50, "p99": p99}}


def _cpu(seconds: float) -> dict:
    return {"wall_s": 10.0, "cpu_s": {"alerts": seconds / 2, "store (nx-27017)": seconds / 2}}


def test_targets_say_how_far_each_is_missed():
    result = {
        "baseline": {"rate": 1000.0},
        "rates": [10, 100, 1000],
        "burst": {
            "1": {
                "events": 100,
                "alert": _leg(100.0, 1.0),
                "webhook": _leg(50.0, 1.0),
                "cpu": _cpu(2.0),  # 20 ms per event
                "store_commands": {"per_event": 7.5},
                "deliveries": {"per_event": 9.0},
            }
        },
        "floor": {
            "events": 100,
            "alert": _leg(400.0, 1.0),
            "webhook": _leg(200.0, 1.0),
            "deliveries": {"per_event": 7.0},
        },  # fmt: skip
        "ours": {
            "10": {"alert": _leg(0, 0.02, 0.01), "webhook": _leg(0, 0.05, 0.04)},
            "100": {"alert": _leg(0, 0.2), "webhook": _leg(0, 0.1)},
        },
        "alertmanager": {"100": {"webhook": _leg(0, 0.008)}},
        "rules": [
            {"rules": 10, "in_process": {"rate": 1000.0}, "e2e": {"rate": 40.0}},
            {"rules": 10000, "in_process": {"rate": 600.0}, "e2e": {"rate": 10.0}},
        ],
    }
    rows = {t["target"]: t for t in targets(result)}
    assert rows["burst, publish → alert stored / raw kombu"]["missed_by"] == "1.5× short (33% below)"
    assert rows["burst, publish → webhook delivered / raw kombu"]["missed_by"] == "2.0× short (50% below)"
    floor = rows["burst, publish → webhook delivered / topology floor, same run"]
    assert (floor["value"], floor["met"]) == (0.25, False)
    assert floor["beside"] == "floor 200/s; alert stored / floor 0.250"
    assert rows["CPU per event, all processes, burst, ms"]["missed_by"] == "1.33× over (+5 ms)"
    assert rows["store commands per event"]["met"]
    deliveries_row = rows["broker deliveries per detractor event"]
    assert (
        deliveries_row["missed_by"] == "1.50× over (+3)" and deliveries_row["beside"] == "topology floor 7.00"
    )
    alert = rows["paced 100/s, p99 publish → alert stored, ms"]
    assert alert["missed_by"] == "4.0× over (+150 ms)"
    assert alert["beside"] == "Alertmanager p99 at 100/s: 8.0 ms"
    assert rows["paced 100/s, p99 publish → webhook delivered, ms"]["met"]
    assert rows["paced 10/s, p50 publish → webhook delivered, ms"]["missed_by"] == "1.3× over (+10 ms)"
    assert rows["10,000 rules / 10 rules, end to end"]["missed_by"] == "2.0× short (50% below)"
    assert rows["10,000 rules / 10 rules, in process"]["issue"] == 11
    assert "| Alertmanager p99 at 100/s: 8.0 ms |" in targets_table(list(rows.values()))


def test_targets_not_measured_when_a_run_is_missing():
    result = {"baseline": {"rate": 1000.0}, "rates": [200], "burst": {}, "ours": {}, "alertmanager": {}}
    rows = targets(result)
    assert rows and all(not t["met"] and t["missed_by"] == "not measured" for t in rows)


FLOOR_BURST = Path(__file__).parent / "fixtures" / "rabbitmq_floor_deliveries.json"


def test_deliveries_per_event_come_from_two_management_api_listings():
    """Listings of a real burst through the floor (fixtures/capture_floor_deliveries.py)."""
    burst = json.loads(FLOOR_BURST.read_text())
    counted = deliveries(burst["before"], burst["after"], burst["events"])
    # one delivery per consuming queue per event; the benchmark's listener and the
    # queues nothing reached (dead letters, customer_erased) are not listed
    assert counted["by_queue"] == {
        "cx.feedback.alerts": 20,
        "cx.feedback.profiles": 20,
        "evt-alerts-alert_raised--cases.handle_alert_raised": 20,
        # one per cases batch (the 20 events came in 5 batches)
        "evt-cases-alerts_taken_in--profiles.handle_alerts_taken_in": 5,
        "evt-cases-notification_requested--notify.handle_notification_requested": 20,
    }
    assert (counted["total"], counted["per_event"]) == (85, 4.25)
    # a queue declared during the burst counts from zero
    before = [row for row in burst["before"] if row["name"] != "cx.feedback.alerts"]
    assert deliveries(before, burst["after"], 20)["by_queue"]["cx.feedback.alerts"] == 25
    # a queue ours reached and the floor did not is named
    ours = {"by_queue": {**counted["by_queue"], "evt-cases-case_status_changed--profiles.x": 20}}
    assert topology_drift({"burst": {"1": {"deliveries": ours}}, "floor": {"deliveries": counted}}) == (
        "ours only: evt-cases-case_status_changed--profiles.x"
    )
    assert topology_drift({"burst": {"1": {"deliveries": counted}}, "floor": {"deliveries": counted}}) == ""


def test_store_commands_per_event_leave_out_what_the_timers_send_anyway():
    prefix = "bench1a2b3c_"
    idle_start = Counter({f"{prefix}notify find": 100, f"{prefix}alerts insert": 40})
    idle_end = Counter({f"{prefix}notify find": 110, f"{prefix}alerts insert": 40})  # 2/s over 5 s
    end = Counter({f"{prefix}notify find": 150, f"{prefix}alerts insert": 240, "admin ping": 1})
    counted = commands_per_event((idle_start, idle_end, 5.0), (idle_end, end, 10.0), 100, prefix)
    # notify: 40 more finds, 20 of them the sweep's own 2/s over the 10 s burst
    assert counted["by_command"] == {"alerts insert": 2.0, "notify find": 0.2, "admin ping": 0.01}
    assert counted["by_service"] == {"alerts": 2.0, "notify": 0.2, "admin": 0.01}
    assert round(counted["per_event"], 6) == 2.21 and counted["idle_per_s"] == 2.0


class Recorder:
    """Stands for a floor service: its ContractDispatcher's contract check, recorded."""

    def __init__(self, **dependencies):
        from services.common.messaging import serialize

        self.sent: list[tuple[str, dict]] = []
        self.dispatch = lambda kind, payload: self.sent.append((kind, serialize(kind, payload)))
        self.__dict__.update(dependencies)


def test_the_floor_is_wired_like_the_services_and_its_messages_pass_the_contracts(monkeypatch):
    from bench import floor
    from bench.pipeline import feedback
    from contracts.feedback import parse_feedback
    from contracts.messages import schema_of
    from services.notify.channels.webhook import WebhookChannel

    # same service names and, per consuming method, the same entrypoint kind and message
    for name, real in {"alerts": floor.AlertsService, "profiles": floor.ProfilesService,
                       "cases": floor.CasesService, "notify": floor.NotifyService}.items():  # fmt: skip
        mirrored = floor.consumers_of(floor.FLOORS[name])
        wiring = {
            method: sorted((type(e).__name__, floor.consumed(e)) for e in entrypoints)
            for method, entrypoints in floor.consumers_of(real).items()
        }
        assert floor.FLOORS[name].name == name and wiring
        assert {
            m: sorted((type(e).__name__, floor.consumed(e)) for e in es) for m, es in mirrored.items()
        } == wiring

    event = parse_feedback(feedback(7, "floor"))  # what the benchmark publishes
    alerts, profiles, cases = Recorder(), Recorder(), Recorder()
    floor.AlertsFloor.handle_feedback(alerts, [event])
    floor.ProfilesFloor.handle_feedback(profiles, [event])
    assert [k for k, _ in alerts.sent] == ["alert_raised"] and [k for k, _ in profiles.sent] == [
        "profile_updated"
    ]
    alert = schema_of("alert_raised").load(alerts.sent[0][1])  # as the cases service receives it
    floor.CasesFloor.handle_alert_raised(cases, [alert])
    sent = dict(cases.sent)
    # as the real intake announces a case assigned at once: the opening carries the assignment
    # then the batch's alerts_taken_in for profiles, carrying the alert and that opening
    assert [k for k, _ in cases.sent] == [
        "case_assigned",
        "notification_requested",
        "case_opened",
        "alerts_taken_in",
    ]
    assert sent["case_opened"]["status"] == "assigned" and sent["case_opened"]["assignment"]["by"] == "system"
    taken = schema_of("alerts_taken_in").load(sent["alerts_taken_in"])  # as profiles receive it
    assert [a["alert_id"] for a in taken["alerts"]] == [alert["alert_id"]]
    assert [c["case_id"] for c in taken["cases_opened"]] == [sent["case_opened"]["case_id"]]
    request = schema_of("notification_requested").load(sent["notification_requested"])

    receiver = HttpReceiver(signed_webhook_keys)
    try:
        monkeypatch.setenv("BENCH_WEBHOOK_URL", receiver.url)
        monkeypatch.setenv("BENCH_WEBHOOK_SECRET", WEBHOOK_SECRET)
        notify = Recorder(channels={"webhook": WebhookChannel({})})
        floor.NotifyFloor.handle_notification_requested(notify, request)
        # the receiver checked the signature and found the published event in the body
        assert set(receiver.arrivals.got) == {"floor-7"} and receiver.rejected == 0
        assert notify.sent[0][0] == "notification_delivered" and notify.sent[0][1]["status"] == "delivered"
    finally:
        receiver.close()
