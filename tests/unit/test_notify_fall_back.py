"""The fall-back stage: a delivery that failed for good is sent again on the fallback
channel to the same people (a team's robot: its members), due at once, once."""

from datetime import UTC, datetime

from services.notify.directory import load_directory
from services.notify.stages.fall_back import FallBack
from services.notify.stages.hold import QuietHours
from services.notify.stages.plan import Plan
from services.notify.store import Recipients

LATE = datetime(2026, 11, 20, 15, 0, tzinfo=UTC).timestamp()  # 23:00 in Shanghai: quiet hours
ROBOT = {"webhook": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}
QUIET = {"start": "22:00", "end": "08:00"}


class Store(Recipients):
    """The directory in memory with a stand-in for the deliveries' verbs; records the calls."""

    def __init__(self, deliveries: dict[str, dict] | None = None):
        directory = {
            "people": [
                {"id": "li.na", "name": "李娜", "email": "li.na@example.com", "quiet_hours": QUIET},
                {"id": "emma", "name": "Emma", "email": "emma@example.com"},
            ],
            "teams": [
                {"id": "care", "name": "Care", "members": ["li.na", "emma"], "handles": {"wecom": ROBOT}}
            ],
        }
        super().__init__(Recipients.of(load_directory(directory)).by_id)
        self.deliveries = dict(deliveries or {})
        self.calls: list[str] = []
        self.counted: list[tuple[str, int]] = []

    def get_deliveries(self, ids):
        self.calls.append("find")
        return {i: self.deliveries[i] for i in ids if i in self.deliveries}

    def create_many(self, items):
        self.calls.append("insert")
        out = []
        for doc, _lease in items:
            out.append(None if doc["_id"] in self.deliveries else doc)
            self.deliveries.setdefault(doc["_id"], doc)
        return out

    def count(self, name, n=1):
        self.counted.append((name, n))


def failed(recipient: dict, channel: str = "wecom", **extra) -> dict:
    return {
        "_id": f"n1|{channel}|{recipient['kind']}:{recipient['id']}",
        "notification_id": "n1",
        "kind": "case_assigned",
        "level": "P3",
        "case_id": "CASE-1",
        "channel": channel,
        "recipient": recipient,
        "context": {"customer": {"id": "C1", "name": "张三"}},
        **extra,
    }


def stage(store: Store, fallback=None) -> FallBack:
    return FallBack({"wecom": "email"} if fallback is None else fallback, store, Plan(store, QuietHours(())))


def test_a_failed_delivery_falls_back_to_the_same_person_due_now_even_in_quiet_hours():
    store = Store()
    li_na = {"kind": "person", "id": "li.na"}
    [one] = stage(store).create([failed(li_na)], LATE)
    assert one["_id"] == "n1|wecom|person:li.na|fallback:email:person:li.na"
    assert (one["channel"], one["recipient"], one["fallback_of"]) == ("email", li_na, "n1|wecom|person:li.na")
    assert (one["status"], one["next_attempt_at"], one["held"]) == ("scheduled", LATE, False)
    assert store.calls == ["find", "insert"] and store.counted == [("fallbacks", 1)]


def test_a_team_robot_falls_back_to_its_members_except_those_already_mailed():
    emma_mail = failed({"kind": "person", "id": "emma"}, "email")
    store = Store({emma_mail["_id"]: emma_mail})
    created = stage(store).create([failed({"kind": "team", "id": "care"})], LATE)
    assert [d["recipient"]["id"] for d in created] == ["li.na"]
    assert store.counted == [("fallbacks", 1)]


def test_the_fallback_carries_the_context_as_stored_now():
    doc = failed({"kind": "person", "id": "emma"})
    scrubbed = {**doc, "context": {"customer": {"id": "C1"}}}  # erased while the attempt ran
    [one] = stage(Store({doc["_id"]: scrubbed})).create([doc], LATE)
    assert one["context"] == {"customer": {"id": "C1"}}


def test_no_fallback_for_a_fallback_for_a_channel_without_one_or_onto_itself():
    store = Store()
    emma = {"kind": "person", "id": "emma"}
    docs = [failed(emma, fallback_of="x"), failed(emma, "email"), failed(emma, "slack")]
    assert stage(store, {"wecom": "email", "email": "email"}).create(docs, LATE) == []
    assert stage(store).create([], LATE) == []
    assert store.calls == [] and store.counted == []


def test_a_rerun_creates_nothing_and_counts_nothing():
    store = Store()
    doc = failed({"kind": "person", "id": "emma"})
    assert len(stage(store).create([doc], LATE)) == 1
    assert stage(store).create([doc], LATE) == []
    assert store.counted == [("fallbacks", 1)]
