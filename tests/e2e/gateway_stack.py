"""A running gateway in front of the four services, with users for each role."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
import yaml
from nameko import config
from nameko.standalone.rpc import ClusterRpcClient

from services.alerts.service import AlertsService
from services.cases.service import CasesService
from services.gateway import auth
from services.gateway.service import GatewayService
from services.notify.service import NotifyService
from services.profiles.service import ProfilesService
from tests.conftest import free_port, wait_until

RULES = {
    "rules": [
        {
            "id": "nps-detractor",
            "name": "NPS 贬损者",
            "level": "P3",
            "owner": {"kind": "team", "id": "cx-care"},
            "channels": ["email"],
            "when": {"all": [{"field": "scores.nps", "op": "lte", "value": 6}]},
        },
        {
            "id": "refund",
            "name": "退款",
            "level": "P2",
            "owner": {"kind": "person", "id": "wang.lei"},
            "channels": ["email"],
            "when": {"all": [{"field": "text", "op": "regex", "value": "退款"}]},
        },
    ]
}
RECIPIENTS = {
    "people": [
        {"id": "chen.jie", "name": "陈杰", "email": "chen.jie@example.com"},
        {"id": "wang.lei", "name": "王磊", "email": "wang.lei@example.com"},
    ],
    "teams": [{"id": "cx-care", "name": "CX care", "members": ["chen.jie"]}],
}
SLA_SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sla.yaml"
PASSWORDS = {"agent": "agent-password-1", "owner": "owner-password-1", "admin": "admin-password-1"}
USERS = [
    {"id": "chen.jie", "name": "陈杰", "role": "agent", "teams": ["cx-care"], "password": PASSWORDS["agent"]},
    {"id": "zhao.min", "name": "赵敏", "role": "owner", "password": PASSWORDS["owner"]},
    {"id": "root", "name": "Admin", "role": "admin", "language": "en", "password": PASSWORDS["admin"]},
    {"id": "survey-app", "role": "integration"},
]
LOGIN_OF = {"agent": "chen.jie", "owner": "zhao.min", "admin": "root", "integration": "survey-app"}


def feedback(event_id="ev-1", nps=2, customer="C42", text="快递三天都没到", **extra):
    return {
        "schema_version": 1,
        "event_id": event_id,
        "source": "survey-app",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "customer": {"id": customer, "name": "王芳", "phone": "13800138000", "tier": "standard"},
        "channel": "wechat",
        "touchpoint": "delivery",
        "scores": {"nps": nps},
        "text": text,
        **extra,
    }


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    return CSRF.search(html).group(1)


@dataclass
class Gateway:
    url: str
    rpc: object
    runner: object = None
    tokens: dict = field(default_factory=dict)

    def api(self, role: str | None, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if role:
            headers["Authorization"] = f"Bearer {self.tokens[role]}"
        return requests.request(method, self.url + path, headers=headers, allow_redirects=False, **kwargs)

    def login(self, role: str, password: str | None = None) -> requests.Session:
        session = requests.Session()
        form = session.get(self.url + "/login")
        response = session.post(
            self.url + "/login",
            data={
                "username": LOGIN_OF[role],
                "password": password or PASSWORDS.get(role, ""),
                "csrf_token": csrf_of(form.text),
            },
            allow_redirects=False,
        )
        session.last_login = response
        return session


def seed_cases(gw):
    """One case for the agent's team, one for another person."""
    r = gw.api(
        "integration",
        "POST",
        "/api/v1/feedback",
        json=[
            feedback("team-case", nps=2, customer="C42", text="还行"),
            feedback("other-case", nps=9, customer="C77", text="我要退款"),
        ],
    )
    assert r.status_code == 202 and r.json()["accepted"] == 2, r.text
    cases = wait_until(lambda: len(gw.rpc.cases.list_cases()) == 2 and gw.rpc.cases.list_cases())
    by_customer = {c["customer"]["id"]: c["_id"] for c in cases}
    wait_until(lambda: profile_or_none(gw, "C42"), message="the profile")
    return by_customer["C42"], by_customer["C77"]


def profile_or_none(gw, customer_id):
    try:
        return gw.rpc.profiles.get_profile(customer_id)
    except Exception:
        return None


SEED_HASHES: dict[str, str] = {}


@contextmanager
def hashes_reused():
    """While the fixture seeds USERS: each password's argon2id hash (production parameters)
    is computed once per test process and stored again for the next test's fresh database,
    instead of ~0.3 s of argon2 per user per test. Logins still verify with argon2, and
    every put_user of a test body hashes afresh (the patch is gone by then)."""
    real = auth.hash_password

    def once(password: str) -> str:
        if password not in SEED_HASHES:
            SEED_HASHES[password] = real(password)
        return SEED_HASHES[password]

    auth.hash_password = once
    try:
        yield
    finally:
        auth.hash_password = real


@pytest.fixture
def gateway(cx_config, runner_factory):
    port = free_port()
    with config.patch({"WEB_SERVER_ADDRESS": f"127.0.0.1:{port}"}):
        runner = runner_factory(AlertsService, CasesService, ProfilesService, NotifyService, GatewayService)
        runner.start()
        with ClusterRpcClient(timeout=15) as rpc:
            rpc.alerts.apply_rules(RULES)
            rpc.notify.apply_recipients(RECIPIENTS)
            rpc.cases.apply_sla_policy(yaml.safe_load(SLA_SAMPLE.read_text(encoding="utf-8")))
            with hashes_reused():
                for user in USERS:
                    rpc.gateway.put_user(user)
            gw = Gateway(f"http://127.0.0.1:{port}", rpc, runner)
            for role, user_id in LOGIN_OF.items():
                gw.tokens[role] = rpc.gateway.issue_token(user_id, "tests")["token"]
            yield gw
