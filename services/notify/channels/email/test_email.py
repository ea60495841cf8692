import socket
import subprocess
import sys
import time

import pytest

from services.notify.channels.base import Destination
from services.notify.channels.email import EmailChannel, SmtpConfig
from services.notify.channels.testing import sample_note


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(tmp_path):
    port, log = free_port(), tmp_path / "accepted.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "services.notify.channels.email.fake", str(port), str(log)]
    )
    deadline = time.monotonic() + 15
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
        assert time.monotonic() < deadline, "the SMTP fake did not start"
        time.sleep(0.1)
    yield port, log
    process.terminate()
    process.wait(timeout=10)


def channel(port):
    return EmailChannel({"smtp": SmtpConfig(host="127.0.0.1", port=port, sender="cx@example.com", timeout=5)})


def test_smtp_replies_are_classified(smtp):
    port, log = smtp
    ok = channel(port).deliver(sample_note(), Destination({}, email="li.na@example.com"), 0)
    assert ok.status == "delivered" and ok.detail.endswith("@cx-alerts.local>")
    assert log.read_text().strip() == "li.na@example.com"
    full = channel(port).deliver(sample_note(), Destination({}, email="full@example.com"), 0)
    assert full.status == "retry" and "452" in full.error
    gone = channel(port).deliver(sample_note(), Destination({}, email="nobody@example.com"), 0)
    assert gone.status == "failed" and "550" in gone.error


def test_unreachable_relay_is_transient():
    outcome = channel(free_port()).deliver(sample_note(), Destination({}, email="li.na@example.com"), 0)
    assert outcome.status == "retry"


def test_a_customer_message_goes_from_the_customer_sender_with_its_own_message_id(smtp):
    from services.notify.channels.email import CustomerEmailChannel
    from services.notify.channels.testing import customer_note

    port, log = smtp
    config = SmtpConfig(host="127.0.0.1", port=port, sender="cx-alerts@example.com", timeout=5)
    email = CustomerEmailChannel({"smtp": config, "customer_sender": "体验中心 <care@example.com>"})
    note = customer_note("followup_survey", "en", fmt="email")
    msg = email.message(note, "wang.fang@example.com")
    assert (
        msg["From"] == "体验中心 <care@example.com>"
        and msg["Subject"] == 'How did we do with "NPS 贬损者 · 王芳"?'
    )
    assert msg["Content-Language"] == "en" and "X-CX-Case-Id" not in msg  # no staff headers
    html = msg.get_body(("html",)).get_content()
    assert '<a href="https://cx.example.com/survey/eyJjIjoiQ0FTRS0xIn0.sig">' in html
    assert email.deliver(note, "wang.fang@example.com", 0).detail == msg["Message-ID"]
    assert log.read_text().strip() == "wang.fang@example.com"
    assert email.deliver(note, "full@example.com", 0).status == "retry"
    assert email.deliver(note, "nobody@example.com", 0).status == "failed"
