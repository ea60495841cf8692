"""Signed follow-up survey links (回访): the cases service signs, the gateway verifies.

A token is ``<payload>.<signature>``, both base64url without padding. The payload is
compact JSON of the claims: ``c`` case id, ``u`` customer id, ``e`` expiry (epoch
seconds), ``n`` a random nonce (the follow-up's single-use key), ``s`` the scale
(``csat`` | ``nps``), ``l`` the language. The signature is HMAC-SHA256 over the
payload with the configured ``SURVEY_SECRET``, so changing any claim (another case,
a later expiry, another nonce) breaks it. Verification compares in constant time
and checks the expiry; single use is the verifier's job (the nonce, claimed once).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

SCALES = ("csat", "nps")
SCALE_RANGES = {"csat": (1, 5), "nps": (0, 10)}
MAX_TOKEN_CHARS = 1024


class SurveyTokenError(ValueError):
    """A token that cannot be used: ``reason`` is ``malformed``, ``forged`` or ``expired``."""

    def __init__(self, reason: str, claims: SurveyClaims | None = None):
        super().__init__(reason)
        self.reason = reason
        self.claims = claims


@dataclass(frozen=True)
class SurveyClaims:
    case_id: str
    customer_id: str
    expires_epoch: int
    nonce: str
    scale: str
    language: str


def new_nonce() -> str:
    return secrets.token_urlsafe(12)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: str) -> str:
    if not secret:
        raise ValueError("SURVEY_SECRET is not configured: survey links cannot be signed or checked")
    return _b64(hmac.new(secret.encode("utf-8"), payload.encode("ascii"), hashlib.sha256).digest())


def sign(secret: str, claims: SurveyClaims) -> str:
    """The token for ``claims``."""
    body = {
        "c": claims.case_id,
        "u": claims.customer_id,
        "e": int(claims.expires_epoch),
        "n": claims.nonce,
        "s": claims.scale,
        "l": claims.language,
    }
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: str, token: str, now_epoch: float) -> SurveyClaims:
    """The claims of a genuine, unexpired token; raises SurveyTokenError otherwise
    (an expired token's error carries its claims: the page can say which case)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise SurveyTokenError("malformed")
    payload, signature = token.split(".")
    if not hmac.compare_digest(_signature(secret, payload), signature):
        raise SurveyTokenError("forged")
    try:
        body = json.loads(_unb64(payload))
        claims = SurveyClaims(
            str(body["c"]), str(body["u"]), int(body["e"]), str(body["n"]), str(body["s"]), str(body["l"])
        )
    except (ValueError, KeyError, TypeError):
        raise SurveyTokenError("malformed") from None
    if claims.scale not in SCALES:
        raise SurveyTokenError("malformed")
    if now_epoch >= claims.expires_epoch:
        raise SurveyTokenError("expired", claims)
    return claims


def reply_code(secret: str, nonce: str) -> str:
    """A short code for the follow-up (SMS replies, reading out on the phone): 8 characters
    of an HMAC of the nonce, from an alphabet without 0/O or 1/I/L."""
    digest = hmac.new(secret.encode("utf-8"), f"code:{nonce}".encode(), hashlib.sha256).digest()
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:8])
