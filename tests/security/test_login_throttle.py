"""Password guessing slows the guessing client down; it never locks the real user out.

Over real HTTP, with two clients on two loopback addresses (127.0.0.1 guesses,
127.0.0.2 is the real user), and on the real store for the counters' atomicity.
The settings are lowered with ``config.patch`` while the gateway runs.
"""

from __future__ import annotations

import re
import time

import eventlet
import pytest
import requests
from nameko import config
from requests.adapters import HTTPAdapter

from services.gateway.gate import LOGIN_COOKIE
from services.gateway.service import GatewayService
from services.gateway.store import GatewayStore
from services.gateway.throttle import login_delay
from tests.e2e.gateway_stack import LOGIN_OF, PASSWORDS, csrf_of, gateway  # noqa: F401 - the fixture


class FromAddress(HTTPAdapter):
    """Connects from a given local address (any 127.x.y.z reaches the gateway on 127.0.0.1)."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class Client:
    """One browser on one address, with the login form open."""

    def __init__(self, gw, address: str):
        self.gw = gw
        self.http = requests.Session()
        self.http.mount("http://", FromAddress(address))
        self.token = csrf_of(self.http.get(gw.url + "/login").text)

    def login(self, username: str, password: str) -> requests.Response:
        if LOGIN_COOKIE not in self.http.cookies:  # a login clears it: open the form again
            self.http.cookies.clear()
            self.token = csrf_of(self.http.get(self.gw.url + "/login").text)
        return self.http.post(
            self.gw.url + "/login",
            data={"username": username, "password": password, "csrf_token": self.token},
            allow_redirects=False,
        )


def status(answer: requests.Response) -> tuple[int, int | None]:
    wait = answer.headers.get("Retry-After")
    return answer.status_code, int(wait) if wait is not None else None


OWNER, RIGHT = LOGIN_OF["owner"], PASSWORDS["owner"]


def test_guessing_slows_its_own_client_and_the_real_user_logs_in_elsewhere(
    gateway,  # noqa: F811
    container_factory,
):
    settings = {
        "LOGIN_FREE_ATTEMPTS": 3,
        "LOGIN_DELAY_SECONDS": 10,  # long enough that no attempt below comes late by chance
        "LOGIN_MAX_DELAY_SECONDS": 60,
        "LOGIN_FREE_ATTEMPTS_PER_CLIENT": 100,
    }
    with config.patch(settings):
        guesser, user = Client(gateway, "127.0.0.1"), Client(gateway, "127.0.0.2")
        assert [guesser.login(OWNER, f"guess-{i}").status_code for i in range(3)] == [401] * 3
        # the 4th attempt is early: refused without looking at the password, and each
        # further early attempt doubles the wait it is told (Retry-After)
        answers = [status(guesser.login(OWNER, p)) for p in ("guess-3", RIGHT, "guess-4", "guess-5")]
        assert answers == [(429, 20), (429, 40), (429, 60), (429, 60)]
        page = guesser.login(OWNER, RIGHT)
        assert "登录尝试次数过多" in page.text and re.search(r'id="retry-after">60<', page.text)
        # the real user, on another client, logs in at once; so does another user on the
        # guessing client (the count is per user name and client, not per account)
        assert user.login(OWNER, RIGHT).status_code == 303
        assert guesser.login(LOGIN_OF["agent"], PASSWORDS["agent"]).status_code == 303
        # the counts live in the gateway's database: a restarted gateway keeps them
        [old] = [c for c in gateway.runner.containers if c.service_name == "gateway"]
        old.stop()
        container_factory(GatewayService).start()
        assert status(guesser.login(OWNER, RIGHT))[0] == 429
    # a delay, not a lock: whoever waits gets in (a 1 s ceiling stands for the wait)
    with config.patch({**settings, "LOGIN_MAX_DELAY_SECONDS": 1}):
        time.sleep(1.2)
        assert guesser.login(OWNER, RIGHT).status_code == 303
        # and the success cleared the guessing client's count for that user
        assert [guesser.login(OWNER, "typo").status_code for _ in range(3)] == [401] * 3


def test_one_client_guessing_many_user_names_is_slowed_without_touching_others(gateway):  # noqa: F811
    settings = {"LOGIN_FREE_ATTEMPTS_PER_CLIENT": 4, "LOGIN_DELAY_SECONDS": 10, "LOGIN_MAX_DELAY_SECONDS": 60}
    with config.patch(settings):
        guesser, user = Client(gateway, "127.0.0.1"), Client(gateway, "127.0.0.2")
        # successful logins do not count against their client
        assert [guesser.login(OWNER, RIGHT).status_code for _ in range(6)] == [303] * 6
        sprayed = [guesser.login(f"user-{i}", "Winter2026!").status_code for i in range(4)]
        assert sprayed == [401] * 4
        assert [status(guesser.login(f"user-{i}", "Winter2026!")) for i in (4, 5)] == [(429, 20), (429, 40)]
        assert status(guesser.login(OWNER, RIGHT)) == (429, 60)  # the whole client waits
        assert user.login(OWNER, RIGHT).status_code == 303


def test_attempts_sent_at_once_pass_the_throttle_no_more_often_than_one_by_one(gateway):  # noqa: F811
    with config.patch({"LOGIN_FREE_ATTEMPTS": 3, "LOGIN_DELAY_SECONDS": 30, "LOGIN_MAX_DELAY_SECONDS": 60}):
        guesser = Client(gateway, "127.0.0.1")
        pool = eventlet.GreenPool(12)
        answers = list(pool.imap(lambda i: guesser.login(OWNER, f"burst-{i}").status_code, range(12)))
        assert sorted(answers) == [401] * 3 + [429] * 9  # only the 3 free ones reached the password
        assert Client(gateway, "127.0.0.2").login(OWNER, RIGHT).status_code == 303


def test_each_attempt_is_counted_by_one_atomic_update(db):
    store = GatewayStore(db)
    pool = eventlet.GreenPool(20)
    now = time.time()
    before = list(pool.imap(lambda _: store.count_login_attempt("pair:x|y", now, 3600)[0], range(40)))
    assert sorted(before) == list(range(40))  # each attempt saw a different count before it
    assert db.login_attempts.find_one({"_id": "pair:x|y"})["attempts"] == 40
    # forgotten after LOGIN_FORGET_SECONDS: the next attempt starts again from nothing, once
    later = now + 3601
    assert store.count_login_attempt("pair:x|y", later, 3600) == (0, None)
    attempts, last = store.count_login_attempt("pair:x|y", later, 3600)
    assert attempts == 1 and last == pytest.approx(later)  # the server keeps about 15 digits
    store.uncount_login_attempt("pair:x|y")
    assert db.login_attempts.find_one({"_id": "pair:x|y"})["attempts"] == 1


def test_login_delays_grow_from_the_first_delay_to_the_ceiling():
    assert [login_delay(n, 3, 1.0, 900.0) for n in range(8)] == [0, 0, 0, 1, 2, 4, 8, 16]
    assert login_delay(20, 3, 1.0, 900.0) == 900.0 and login_delay(10**6, 3, 1.0, 900.0) == 900.0
