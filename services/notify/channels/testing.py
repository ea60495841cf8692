"""Local stand-ins for vendor endpoints: real HTTP servers on 127.0.0.1.

Each channel folder has a ``fake.py`` subclassing ``Receiver`` that checks a
request the way the vendor documents (signature, payload shape, size limit)
and answers the way the vendor does (errcode in a 200 body, 429 with
Retry-After ...). Tests and demos queue scripted answers with ``script`` to
make a receiver fail and then recover.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    path: str
    query: dict
    headers: dict
    body: bytes
    at: float = field(default_factory=time.time)
    method: str = "POST"

    def json(self):
        return json.loads(self.body.decode("utf-8"))


@dataclass
class Answer:
    status: int
    body: bytes | dict | str = b""
    headers: dict = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, dict):
            return json.dumps(self.body, ensure_ascii=False).encode("utf-8")
        return self.body.encode("utf-8") if isinstance(self.body, str) else self.body


class Receiver:
    """An HTTP server recording every request; ``handle`` decides each answer."""

    def __init__(self):
        self.requests: list[Request] = []
        self.accepted: list[Request] = []  # requests answered as a success
        self.scripted: list[Answer] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    parts.path,
                    {k: v[0] for k, v in parse_qs(parts.query).items()},
                    dict(self.headers.items()),
                    self.rfile.read(length),
                )
                if self.command != "POST":
                    request.method = self.command
                answer = receiver._answer(request)
                body = answer.encoded()
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST  # noqa: N815 (a vendor's GET endpoints: the request's method tells them apart)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *answers: Answer) -> None:
        """Answer the next requests with ``answers`` (before any checks)."""
        with self.lock:
            self.scripted.extend(answers)

    def _answer(self, request: Request) -> Answer:
        with self.lock:
            self.requests.append(request)
            scripted = self.scripted.pop(0) if self.scripted else None
        if scripted is not None:
            return scripted
        answer = self.handle(request)
        if 200 <= answer.status < 300 and self.success(answer):
            with self.lock:
                self.accepted.append(request)
        return answer

    def success(self, answer: Answer) -> bool:
        return True

    def handle(self, request: Request) -> Answer:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class PerMinute:
    """A vendor's sliding one-minute send counter."""

    def __init__(self, limit: int):
        self.limit = limit
        self.sent: list[float] = []

    def allow(self, now: float) -> bool:
        self.sent = [t for t in self.sent if now - t < 60]
        if len(self.sent) >= self.limit:
            return False
        self.sent.append(now)
        return True


def sample_note(language: str = "zh-CN", body: str | None = None, **overrides):
    """A rendered note as the pipeline hands it to a channel."""
    from services.notify.channels.base import Note

    values = dict(
        delivery_id="n1|wecom|person:li.na",
        kind="alert_raised",
        level="P1",
        language=language,
        title="【P1·紧急】NPS 贬损者 · 张三"
        if language == "zh-CN"
        else "[P1 urgent] NPS detractor · Zhang San",
        body=body if body is not None else "**客户**：张三（vip）\n**原因**：`scores.nps` ≤ 6（实际 2）",
        text="客户：张三\n原因：NPS 2",
        url="http://console.local/cases/CASE-1",
        case_id="CASE-1",
        facts={"customer": {"id": "C1", "name": "张三"}},
    )
    values.update(overrides)
    return Note(**values)  # type: ignore[arg-type]  # the fields above, by name


def long_markdown(n: int = 3000) -> str:
    """Chinese text sprinkled with links, bold and code: truncation must cut around them."""
    unit = "客户反馈送货太慢[详情](http://x.test/a?b=1) **非常不满** `nps=2` 😡\n"
    return unit * (n // len(unit) + 1)


def customer_request(purpose: str = "followup_survey", language: str = "zh-CN", **extra) -> dict:
    """A ``customer_message_requested`` payload shaped as the cases service makes it
    (its follow-up survey and its customer reply)."""
    from services.notify.customers.render import SAMPLE_CONTEXT

    context = dict(SAMPLE_CONTEXT[purpose])
    return {
        "message_id": f"CASE-1:{purpose}",
        "requested_at": datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
        "purpose": purpose,
        "customer_id": "C42",
        "channels": ["sms", "email", "wechat_oa"],
        "case_id": "CASE-1",
        "language": language,
        "not_after": None,
        "context": context,
        **extra,
    }


def customer_note(purpose: str = "followup_survey", language: str = "zh-CN", fmt: str = "text", **extra):
    """A customer message rendered from the real templates, as a customer channel gets it."""
    from services.notify.customers.render import render
    from services.notify.render import Renderer

    return render(Renderer(), customer_request(purpose, language, **extra), fmt, None, "Asia/Shanghai")
