"""Root fixtures. Eventlet must patch sockets before anything imports them."""

import os
import warnings

# trio (pulled in by selenium) registers a hypothesis plugin that cannot import
# under eventlet's patched sockets; our property tests need no hypothesis plugins.
os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402  (must run first: see README "Tests")

import mailbox  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from email import message_from_bytes, policy  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from nameko import config  # noqa: E402
from pymongo import monitoring  # noqa: E402

from services.common.mongo import make_client  # noqa: E402
from textanalysis import text as textanalysis_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MONGO_URI = os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017/")


class DatabasesSeen(monitoring.CommandListener):
    """Every database a client of this process sent a command to, so a test's clean-up
    drops its own by name. The embedded server keeps listing a dropped database (an
    empty file), so ``list_database_names`` grows with every test run on it: 0.7 s per
    call with ~560 names, which made each test's teardown slower than the one before."""

    def __init__(self):
        self.names: set[str] = set()

    def started(self, event):
        self.names.add(event.database_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass

    def taken(self, prefix: str) -> list[str]:
        """The names seen that start with ``prefix``, forgotten from now on."""
        found = [name for name in list(self.names) if name.startswith(prefix)]
        self.names.difference_update(found)
        return found


DATABASES_SEEN = DatabasesSeen()
monitoring.register(DATABASES_SEEN)  # before any client is made

MARKERS = {"unit": "unit", "store": "store", "services": "service", "e2e": "e2e", "security": "security"}


def pytest_collection_modifyitems(items):
    for item in items:
        path = Path(str(item.fspath))
        if path.is_relative_to(ROOT / "services" / "notify" / "channels"):
            item.add_marker("channel")  # tests beside each channel's code
            continue
        part = path.relative_to(ROOT / "tests").parts[0]
        if part in MARKERS:
            item.add_marker(MARKERS[part])


def wait_until(predicate, timeout=20.0, interval=0.1, message="condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        eventlet.sleep(interval)


@pytest.fixture(autouse=True)
def shipped_text_analysis():
    """Each test starts from the shipped lexicon and no learned model: services running
    in the test process install their live analyzer and model process-wide
    (textanalysis.text.use_analyzer / use_model), which must not reach the next test."""
    yield
    textanalysis_text.reset_analyzer()
    textanalysis_text.use_model(None)


@pytest.fixture(scope="session")
def mongo_client():
    client = make_client(MONGO_URI)
    try:
        client.admin.command("ping")
    except Exception as exc:  # a clear message instead of a hang
        pytest.exit(
            f"no MongoDB answers at {MONGO_URI} ({exc}); run scripts/test.sh, "
            "which starts the embedded server",
            returncode=3,
        )
    yield client
    client.close()


@pytest.fixture
def db_prefix(mongo_client):
    """A fresh set of databases for one test, dropped afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield prefix
    # The shared embedded server sometimes answers "disk I/O error" while another
    # client drops its databases at the same moment; clean-up retries instead of failing.
    from pymongo.errors import OperationFailure

    # Services run in other processes (nameko run) write databases this process never
    # saw; with the prefix unique per test they are only left behind, never read again.
    names = DATABASES_SEEN.taken(prefix)
    for attempt in range(5):
        try:
            for name in names:
                mongo_client.drop_database(name)
            return
        except OperationFailure:
            if attempt == 4:
                raise
            time.sleep(0.5)


@pytest.fixture
def db(mongo_client, db_prefix):
    return mongo_client[f"{db_prefix}store"]


@contextmanager
def feedback_consumers(runner_factory, partitions: int = 0):
    """alerts and profiles running, on their own queues, or (``partitions`` > 0) behind
    the ingest router's partition queues; yields the runners."""
    from services.alerts.service import AlertsService
    from services.ingest.service import IngestService
    from services.profiles.service import ProfilesService

    settings = {"FEEDBACK_PARTITIONS": partitions, "REPLICA_COUNT": 1, "REPLICA_INDEX": 0}
    with config.patch(settings if partitions else {}):
        runners = [runner_factory(AlertsService, ProfilesService)]
        if partitions:
            runners.append(runner_factory(IngestService))
        for runner in runners:
            runner.start()
        yield runners


def detractor_rules(rule_id: str) -> dict:
    """A rule set of one P3 rule matching every NPS detractor (owner li.na, email)."""
    return {
        "rules": [
            {
                "id": rule_id,
                "name": rule_id.replace("-", " "),
                "level": "P3",
                "owner": {"kind": "person", "id": "li.na"},
                "channels": ["email"],
                "when": {"field": "scores.nps", "op": "lte", "value": 6},
            }
        ]
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpSink:
    """A real SMTP server (aiosmtpd, its own process) keeping mail in a Maildir.

    With ``wait=False`` the server is only started: ``wait_listening`` waits for it. Its
    port stays reserved (bound, not listening) until then, so no ``free_port`` call in
    between can be handed the same port."""

    def __init__(self, directory: Path, wait: bool = True):
        self.directory = directory
        self._reserved = socket.socket()
        self._reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiosmtpd binds
        self._reserved.bind(("127.0.0.1", 0))
        self.port = self._reserved.getsockname()[1]
        mailbox.Maildir(str(directory), create=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{self.port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if wait:
            self.wait_listening()

    def wait_listening(self) -> None:
        try:
            wait_until(self._listening, timeout=15, interval=0.02, message="the SMTP sink to listen")
        finally:
            self._reserved.close()

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def count(self) -> int:
        """Messages delivered, without reading them: a Maildir file each. Parsing them all
        (``messages()``) holds the test process's eventlet hub for seconds once there are
        thousands, and local HTTP receivers in the same process then answer too late."""
        files = [f for sub in ("new", "cur") for f in (self.directory / sub).iterdir()]
        return sum(1 for f in files if not f.name.startswith("."))

    def messages(self):
        return [
            message_from_bytes(bytes(m), policy=policy.default)
            for m in mailbox.Maildir(str(self.directory), create=False)
        ]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="session")
def next_smtp_sink(tmp_path_factory):
    """Hands out SMTP sinks, each test its own fresh server and Maildir, and starts the
    next one as it hands one out: the ~0.3 s a server takes to start (every test with
    ``cx_config`` has one) passes while the test runs instead of before it."""
    spare: list[SmtpSink] = []

    def start() -> SmtpSink:
        # a path that does not exist yet: Maildir(create=True) makes new/ cur/ tmp/ only then
        return SmtpSink(tmp_path_factory.mktemp("smtp") / "mail", wait=False)

    def take() -> SmtpSink:
        sink = spare.pop() if spare else start()
        sink.wait_listening()
        spare.append(start())
        return sink

    yield take
    for sink in spare:
        sink.wait_listening()
        sink.stop()


@pytest.fixture
def smtp_sink(next_smtp_sink):
    sink = next_smtp_sink()
    yield sink
    sink.stop()


@pytest.fixture
def cx_config(rabbit_config, db_prefix, smtp_sink):
    """Config for running services: isolated vhost, databases and mailbox."""
    with config.patch(
        {
            "MONGO_URI": MONGO_URI,
            "MONGO_DB_PREFIX": db_prefix,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": smtp_sink.port,
            "MAX_DELIVERY_ATTEMPTS": 3,
            "RETRY_BACKOFF_BASE": 0.1,
            "STORE_RETRY_DELAY": 0.2,
            # customers' quiet hours (21:00-09:00 in their zone by default) would make a
            # test's outcome depend on the time of day it runs; tests of quiet hours set them
            "CUSTOMER_QUIET_HOURS": "none",
        }
    ):
        yield config


# A test that hangs must fail, with every green thread's stack, instead of holding the
# whole CI run until its deadline. SIGALRM interrupts the eventlet hub's wait.
TEST_DEADLINE_SECONDS = int(os.environ.get("CX_TEST_DEADLINE", "600"))


def _green_stacks() -> str:
    import gc
    import traceback

    import greenlet

    out = []
    for obj in gc.get_objects():
        if isinstance(obj, greenlet.greenlet) and obj.gr_frame is not None:
            out.append("".join(traceback.format_stack(obj.gr_frame)))
    return "\n--- green thread ---\n".join(out)


class DeadlinePassed(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    import signal

    def overran(signum, frame):
        sys.stderr.write(f"\n{item.nodeid} ran past {TEST_DEADLINE_SECONDS} s; green threads:\n")
        sys.stderr.write(_green_stacks() + "\n")
        raise DeadlinePassed(f"{item.nodeid} ran past {TEST_DEADLINE_SECONDS} s (CX_TEST_DEADLINE)")

    previous = signal.signal(signal.SIGALRM, overran)
    signal.alarm(TEST_DEADLINE_SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
