"""After logging in, the browser goes only to a path of this site (no open redirect).

``gate.safe_next`` is fuzzed against a model of how a browser resolves a
``Location`` (the WHATWG URL parser's steps that decide the origin), and the
real HTTP answers for the URLs of issue 19 are checked end to end.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.wrappers import Response

from services.gateway.gate import DEFAULT_NEXT, safe_next
from tests.e2e.gateway_stack import LOGIN_OF, PASSWORDS, csrf_of, gateway, seed_cases  # noqa: F401
from tests.fuzz.budget import FUZZ_CASES

# One in-process call per case: the whole fuzz budget costs well under a second per 1,000.
REDIRECT_SETTINGS = settings(
    max_examples=FUZZ_CASES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def browser_leaves_the_site(location: str) -> bool:
    """Whether a browser on https://cx.example/login would leave the origin for ``location``.

    The WHATWG URL parser first strips leading and trailing C0 controls and spaces and
    removes every tab, LF and CR anywhere; then a scheme, or two slashes (a backslash
    counts as a slash for http(s)) start another origin. Anything else is resolved
    against the current origin.
    """
    cleaned = re.sub(r"[\t\n\r]", "", location.strip("".join(map(chr, range(0x21)))))
    return bool(SCHEME.match(cleaned)) or cleaned[:2].replace("\\", "/") == "//"


def dot_segments(path: str) -> bool:
    segments = unquote(urlsplit(path).path).split("/")
    return any(s in (".", "..") for s in segments)


PIECES = [
    "/", "//", "\\", "/\\", "\t", "\n", "\r", " ", "\x00", "\x0b", "\x1f", "\x7f", "\u00a0", "\u2028",
    "\u3000", "\ufeff", "\ud800", "%09", "%0a", "%2f", "%5c", "%2e", ".", "..", ":", "@", "?", "#",
    "http:", "https:", "javascript:", "evil.example", "cases", "CASE-1", "王芳", "é",
]  # fmt: skip
hostile = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=12).map("".join)
PATH_CHARS = "abcXYZ019-._~!$&'()*+,;=:@%"
ordinary = st.lists(st.text(PATH_CHARS, min_size=1, max_size=8), min_size=1, max_size=5).map(
    lambda parts: "/" + "/".join(p for p in parts if p not in (".", "..") and not set(p) <= {"."})
)


@REDIRECT_SETTINGS
@given(st.one_of(hostile, hostile.map(lambda s: "/" + s), st.none()))
def test_safe_next_only_ever_answers_a_normalised_path_of_this_site(value):
    target = safe_next(value)
    assert target.startswith("/") and target[1:2] not in ("/", "\\")
    assert all("\x21" <= c <= "\x7e" for c in target), target  # no controls, whitespace or non-ASCII
    assert "\\" not in target and not dot_segments(target)
    assert not browser_leaves_the_site(target)
    parts = urlsplit(target)
    assert not parts.scheme and not parts.netloc
    assert safe_next(target) == target  # normalised: a second pass changes nothing
    Response("", status=303, headers={"Location": target})  # a valid header value


@REDIRECT_SETTINGS
@given(ordinary, st.sampled_from(["", "?scope=mine&level=P1", "?q=a%20b#top"]))
def test_safe_next_keeps_ordinary_paths_of_the_site(path, rest):
    if dot_segments(path) or path.startswith("//"):
        return
    assert safe_next(path + rest) == path + rest


def test_safe_next_refuses_what_browsers_read_as_another_origin():
    offsite = ["/\t/evil.example", "/\r\n/evil.example", " //evil.example", "//evil.example"]
    offsite += ["/\\evil.example", "\\/evil.example", "https://evil.example/", "javascript:alert(1)"]
    assert all(browser_leaves_the_site(url) for url in offsite)
    odd = ["/\n/x", "/ /evil.example", "/..//evil.example", "/%2e%2e//evil.example", "/cases\u3000"]
    odd += ["/cases\x00", "cases", "", None, "/" + "a" * 3000]
    for bad in offsite + odd:
        assert safe_next(bad) == DEFAULT_NEXT, repr(bad)
    assert safe_next("/customers/王芳?x=é") == "/customers/" + quote("王芳") + "?x=" + quote("é")
    assert safe_next("/cases/CASE-1?scope=mine") == "/cases/CASE-1?scope=mine"


def post_login(gw, session, token, next_url):
    return session.post(
        gw.url + "/login",
        data={
            "username": LOGIN_OF["owner"],
            "password": PASSWORDS["owner"],
            "csrf_token": token,
            "next": next_url,
        },
        allow_redirects=False,
    )


def test_login_never_redirects_off_the_site_over_http(gateway):  # noqa: F811
    for query, raw in (("/%09/evil.example", "/\t/evil.example"), ("/%0a/x", "/\n/x")):
        anonymous = requests.Session()
        form = anonymous.get(gateway.url + "/login?next=" + query)
        assert form.status_code == 200, form.text  # "/%0a/x" answered 500
        assert 'name="next" value="/cases"' in form.text
        # the value a browser would post from the old hidden field, or a forged form
        answer = post_login(gateway, anonymous, csrf_of(form.text), raw)
        assert answer.status_code == 303 and answer.headers["Location"] == "/cases"
        # a signed-in user opening the link is sent on at once: still to this site
        r = anonymous.get(gateway.url + "/login?next=" + query, allow_redirects=False)
        assert r.status_code == 303 and r.headers["Location"] == "/cases", r.headers
    # a page that needed the login is where the login goes back to, path encoded
    s = requests.Session()
    r = s.get(gateway.url + "/customers/王 芳?timeline_limit=5", allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"].startswith("/login?next=")
    form = s.get(gateway.url + r.headers["Location"])
    [hidden] = re.findall(r'name="next" value="([^"]*)"', form.text)
    assert hidden == "/customers/%E7%8E%8B%20%E8%8A%B3?timeline_limit=5"
    answer = post_login(gateway, s, csrf_of(form.text), hidden)
    assert answer.status_code == 303 and answer.headers["Location"] == hidden
