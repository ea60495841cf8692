"""Credentials: password hashing, API tokens, session ids, CSRF tokens. Pure code.

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
