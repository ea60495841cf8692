"""The gateway's own database: users, API tokens, sessions, login attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from contracts.base import utcnow
from services.common.mongo import Store
from services.gateway import auth


class GatewayStore(Store):
    def indexes(self):
        return {
            "tokens": [IndexModel([("user_id", ASCENDING)], name="user")],
            "sessions": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl")],
            "login_attempts": [IndexModel([("expires_at", ASCENDING)], expireAfterSeconds=0, name="ttl")],
        }

    # --- users -----------------------------------------------------------
    def put_user(self, user: dict) -> dict:
        """Create or replace a user (``user`` as validated by users.UserSchema)."""
        doc = {k: v for k, v in user.items() if k != "password"}
        doc["_id"] = doc.pop("id")
        existing = self.db.users.find_one({"_id": doc["_id"]}, {"password_hash": 1, "created_at": 1})
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

    def user_for_token(self, token: str) -> dict | None:
        row = self.db.tokens.find_one({"_id": auth.digest(token)})
        return self.get_user(row["user_id"]) if row else None

    def revoke_tokens(self, user_id: str, name: str | None = None) -> int:
        query = {"user_id": user_id, **({"name": name} if name else {})}
        return self.db.tokens.delete_many(query).deleted_count

    # --- sessions --------------------------------------------------------
    def open_session(self, user_id: str | None, language: str, now: datetime, ttl: float) -> tuple[str, dict]:
        """A new session (``user_id`` None before login); returns (cookie value, session)."""
        sid = auth.new_secret()
        session = {
            "_id": auth.digest(sid),
            "user_id": user_id or "",
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

    # --- login rate limit ------------------------------------------------
    def count_attempt(self, key: str, now: datetime, window: int) -> int:
        """Count one login attempt for ``key`` in the current fixed window; return the count.

        Stored in MongoDB so a restart does not reset the limit.
        """
        start = int(now.timestamp()) // window * window
        doc_id = f"{key}|{start}"
        expires = datetime.fromtimestamp(start + 2 * window, tz=UTC)
        try:
            self.db.login_attempts.update_one(
                {"_id": doc_id}, {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires}}, upsert=True
            )
        except DuplicateKeyError:  # two first attempts raced on the upsert
            self.db.login_attempts.update_one({"_id": doc_id}, {"$inc": {"count": 1}})
        return self.db.login_attempts.find_one({"_id": doc_id})["count"]


def public_user(doc: dict) -> dict:
    return {
        "id": doc["_id"],
        "name": doc.get("name"),
        "role": doc["role"],
        "teams": list(doc.get("teams") or []),
        "language": doc.get("language", "zh-CN"),
        "can_log_in": bool(doc.get("password_hash")),
    }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
