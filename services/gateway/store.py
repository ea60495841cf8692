"""The gateway's own database: users, API tokens, sessions, login attempts, the form key,
the follow-up survey answers taken (one per token nonce)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.collection import ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common.erasure import anonymise
from services.common.mongo import Store
from services.gateway import auth
from services.gateway.people_logins import FIELDS as DIRECTORY_FIELDS
from services.gateway.people_logins import SOURCE as DIRECTORY_SOURCE
from services.gateway.people_logins import may_sign_in

BEFORE = ReturnDocument.BEFORE


class GatewayStore(Store):
    def __init__(self, db):
        super().__init__(db)
        self._form_key: bytes | None = None

    def indexes(self):
        return {
            "tokens": [IndexModel([("user_id", ASCENDING)], name="user")],
            "sessions": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl")],
            # "expiry" (a subdocument's datetime, see count_login_attempt); the "ttl" index
            # on expires_at of the fixed-window counters before issue 19 may stay
            "login_attempts": [IndexModel([("expiry.at", ASCENDING)], expireAfterSeconds=0, name="expiry")],
        }

    # --- users -----------------------------------------------------------
    def put_user(self, user: dict) -> dict:
        """Create or replace a user (``user`` as validated by users.UserSchema)."""
        doc = {k: v for k, v in user.items() if k != "password"}
        doc["_id"] = doc.pop("id")
        existing = self.db.users.find_one({"_id": doc["_id"]})
        if existing and existing.get("source") == DIRECTORY_SOURCE:
            # the people directory decides who they are; only the password is set here
            doc.update({k: existing[k] for k in DIRECTORY_FIELDS if k in existing}, source=DIRECTORY_SOURCE)
        if user.get("password"):
            doc["password_hash"] = auth.hash_password(user["password"])
        else:
            doc["password_hash"] = (existing or {}).get("password_hash")
        doc["created_at"] = (existing or {}).get("created_at") or utcnow()
        self.db.users.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        return public_user(doc)

    def get_user(self, user_id: str) -> dict | None:
        return self.db.users.find_one({"_id": user_id})

    def list_users(self) -> list[dict]:
        return [public_user(u) for u in self.db.users.find().sort("_id", ASCENDING)]

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self.db.users.update_one({"_id": user_id}, {"$set": {"password_hash": password_hash}})

    # --- API tokens ------------------------------------------------------
    def issue_token(self, user_id: str, name: str) -> str:
        token = auth.new_token()
        self.db.tokens.insert_one(
            {"_id": auth.digest(token), "user_id": user_id, "name": name, "created_at": utcnow()}
        )
        return token

    def list_tokens(self) -> list[dict]:
        """Every API token's owner, label and age, by owner (never the token or its digest)."""
        rows = self.db.tokens.find({}, {"_id": 0, "user_id": 1, "name": 1, "created_at": 1})
        return sorted(rows, key=lambda r: (r["user_id"], r["name"], str(r["created_at"])))

    def user_for_token(self, token: str) -> dict | None:
        row = self.db.tokens.find_one({"_id": auth.digest(token)})
        return self.get_user(row["user_id"]) if row else None

    def revoke_tokens(self, user_id: str, name: str | None = None) -> int:
        query = {"user_id": user_id, **({"name": name} if name else {})}
        return self.db.tokens.delete_many(query).deleted_count

    # --- sessions --------------------------------------------------------
    def open_session(self, user_id: str, language: str, now: datetime, ttl: float) -> tuple[str, dict]:
        """A new session of a signed-in user; returns (cookie value, session). Nothing is
        stored before the login succeeds (the login form's token needs no session)."""
        sid = auth.new_secret()
        session = {
            "_id": auth.digest(sid),
            "user_id": user_id,
            "csrf": auth.new_secret(),
            "language": language,
            "expires_at": now + timedelta(seconds=ttl),
        }
        self.db.sessions.insert_one(session)
        return sid, session

    def get_session(self, sid: str, now: datetime) -> dict | None:
        session = self.db.sessions.find_one({"_id": auth.digest(sid)})
        if session is None or _aware(session["expires_at"]) <= now:
            return None
        return session

    def set_session_language(self, session_id: str, language: str) -> None:
        self.db.sessions.update_one({"_id": session_id}, {"$set": {"language": language}})

    def close_session(self, session_id: str) -> None:
        self.db.sessions.delete_one({"_id": session_id})

    # --- login throttle (throttle.LoginThrottle) ----------------------------
    def count_login_attempt(self, key: str, now: float, forget: float) -> tuple[int, float | None]:
        """Count one login attempt on ``key`` with one atomic update; return what was counted
        before it: (attempts, epoch seconds of the last one), or (0, None) when there was
        none, or the last was ``forget`` seconds ago or more (its count is then dropped).

        The update returns the document as it was before, so two attempts at once each
        see the other or not, never the same count. Times are epoch numbers (``$max``
        on a datetime is not portable, docs/store.md); stored in MongoDB so every
        replica shares the counts and a restart keeps them.
        """
        update = {
            "$inc": {"attempts": 1},
            "$max": {"last_at": now},
            "$set": {"expiry": {"at": datetime.fromtimestamp(now + forget, tz=UTC)}},
        }
        attempts = self.db.login_attempts
        try:
            before = attempts.find_one_and_update({"_id": key}, update, upsert=True, return_document=BEFORE)
        except DuplicateKeyError:  # two first attempts raced on the upsert: the other one inserted
            before = attempts.find_one_and_update({"_id": key}, update, return_document=BEFORE)
        if before is None:
            return 0, None
        if before["last_at"] <= now - forget:
            # Only this attempt saw the old time (it moved ``last_at``): drop the old count once.
            attempts.update_one({"_id": key}, {"$inc": {"attempts": -before["attempts"]}})
            return 0, None
        return max(0, before["attempts"]), before["last_at"]

    def uncount_login_attempt(self, key: str) -> None:
        """Take one attempt back (a successful login does not slow its client down)."""
        self.db.login_attempts.update_one({"_id": key}, {"$inc": {"attempts": -1}})

    def forget_login_attempts(self, key: str) -> None:
        self.db.login_attempts.delete_one({"_id": key})

    # --- the login form's signed double-submit token ----------------------
    def form_key(self) -> bytes:
        """The key that signs login-form tokens: made once, kept in the gateway's database so
        that every replica accepts a form another one served, read once per container."""
        if self._form_key is None:
            try:
                self.db.keys.insert_one(
                    {"_id": "login-form", "key": auth.new_secret(), "created_at": utcnow()}
                )
            except DuplicateKeyError:  # made before (or by another replica just now)
                pass
            stored = self.db.keys.find_one({"_id": "login-form"})
            assert stored is not None  # inserted just now or before
            self._form_key = stored["key"].encode("ascii")
        return self._form_key

    # --- follow-up survey answers: one per token nonce (single use) ---------
    def survey_answered(self, nonce: str) -> bool:
        return self.db.survey_answers.find_one({"_id": nonce}, {"_id": 1}) is not None

    def claim_survey(self, nonce: str, case_id: str, now: datetime) -> bool:
        """Take the token's one use: True for the first caller only (the ``_id`` decides)."""
        try:
            self.db.survey_answers.insert_one(
                {"_id": nonce, "case_id": case_id, "state": "claimed", "at": now}
            )
        except DuplicateKeyError:
            return False
        return True

    def release_survey(self, nonce: str) -> None:
        """Give a claim back (the answer could not be published)."""
        self.db.survey_answers.delete_one({"_id": nonce, "state": "claimed"})

    def survey_published(self, nonce: str) -> None:
        self.db.survey_answers.update_one({"_id": nonce}, {"$set": {"state": "published"}})

    # --- customers' SMS replies (sms_replies.py): kept before anything is done with them ---
    def keep_sms_reply(self, sms) -> bool:
        """Keep an inbound SMS once per vendor key; False when it was settled before (a
        vendor's repeated push). The number is kept masked."""
        doc = {
            "vendor": sms.vendor,
            "phone": mask_phone(sms.phone),
            "text": sms.text,
            "sent_at": sms.sent_at,
            "received_at": utcnow(),
            "outcome": None,
        }
        self.db.sms_replies.update_one({"_id": sms.key}, {"$setOnInsert": doc}, upsert=True)
        return self.db.sms_replies.find_one({"_id": sms.key, "outcome": None}, {"_id": 1}) is not None

    def settle_sms_reply(
        self, key: str, outcome: str, reason: str | None, case_id: str | None, customer_id: str | None = None
    ) -> None:
        change = {"outcome": outcome, "reason": reason, "case_id": case_id, "customer_id": customer_id}
        self.db.sms_replies.update_one({"_id": key}, {"$set": change})

    def anonymise_customer(self, customer_ids: list[str]) -> int:
        """``customer_erased``: the replies known to be theirs lose their text and number."""
        return anonymise(self.db.sms_replies, {"customer_id": {"$in": list(customer_ids)}}, ("text", "phone"))

    def sms_replies(self, outcome: str | None, limit: int, skip: int) -> list[dict]:
        """Inbound SMS replies, newest first; ``outcome`` one of them only."""
        query = {"outcome": outcome} if outcome else {}
        rows = self.db.sms_replies.find(query).sort("received_at", DESCENDING).skip(skip).limit(limit)
        return [{"id": row.pop("_id"), **row} for row in rows]


def mask_phone(phone: str) -> str:
    return f"{phone[:5]}****{phone[-2:]}" if len(phone) > 8 else "****"


def public_user(doc: dict) -> dict:
    return {
        "id": doc["_id"],
        "name": doc.get("name"),
        "role": doc["role"],
        "teams": list(doc.get("teams") or []),
        "language": doc.get("language", "zh-CN"),
        "can_log_in": bool(doc.get("password_hash")) and may_sign_in(doc),
    }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
