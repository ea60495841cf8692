"""Credentials: password hashing, API tokens, session ids, CSRF tokens. Pure code.

* The login form, before any session exists, uses a signed double-submit token:
  a cookie holds a random value with its expiry (``new_form_cookie``) and the
  form the HMAC-SHA256 of it under the gateway's key (``form_token``). A
  cross-site page can neither read the cookie nor compute the HMAC, and nothing
  is stored per visitor.

* Passwords: argon2id (argon2-cffi's defaults, RFC 9106's second recommended
  profile: time cost 3, 64 MiB, parallelism 4), re-hashed on login when the
  parameters change.
* API tokens and session ids are 256-bit random strings; only their SHA-256
  is stored. A KDF adds nothing for secrets with that much entropy, and a
  plain hash keeps the lookup an indexed equality.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

TOKEN_PREFIX = "cxt_"
_hasher = PasswordHasher()
# Verified against when the user does not exist, so both paths cost one argon2 run.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What is stored for a token or session id."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


def new_form_cookie(now: float, ttl: float) -> str:
    """The cookie half of a login form's token: ``<random>.<expiry, epoch seconds>``."""
    return f"{secrets.token_urlsafe(32)}.{int(now + ttl)}"


def form_cookie_valid(cookie: str | None, now: float) -> bool:
    """Well formed and not expired at ``now``."""
    nonce, _, expires = (cookie or "").rpartition(".")
    return len(nonce) >= 32 and expires.isascii() and expires.isdigit() and now < int(expires)


def form_token(key: bytes, cookie: str) -> str:
    """The form half: the cookie's HMAC-SHA256 under the gateway's key."""
    return hmac.new(key, b"login-form|" + cookie.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


def form_token_valid(key: bytes, cookie: str | None, sent: str | None, now: float) -> bool:
    return cookie is not None and form_cookie_valid(cookie, now) and same(sent, form_token(key, cookie))
