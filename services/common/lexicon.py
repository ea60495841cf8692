"""Lexicons an admin edits live: the overlay's store and the analyzer each replica uses.

The shipped word lists (``textanalysis/lexicon/``) are merged with an overlay of admin
edits (``textanalysis/lexicon.py``) kept in the text analysis's own database,
``<MONGO_DB_PREFIX>lexicon``, which every service that analyses text reads (alerts,
profiles, the gateway) and only ``LexiconStore.edit`` / ``revert`` write (the alerts
service's RPCs; cxctl and the gateway API call them):

* ``entries``: the overlay, one document per (list, word): ``added`` or ``removed``,
  the version that set it, who, when and why; an aspect code an admin added is the
  entry of the pseudo-list ``aspect_codes`` for that code, with its ``labels``;
* ``edits``: every change as a version (``_id`` 1, 2, …): the edit, who, when, why,
  and the entry before it, so any edit can be reverted (as a new version);
* ``lexicon_meta``: the version counter and the ConfigCache revision.

The same cache holds the polarity model in use (services/common/sentiment_models.py).
Each replica holds the merged lexicon in a ConfigCache (services/common/mongo.py) whose
value is a ``textanalysis.text.Analyzer``: a new lexicon is a new analyzer with an empty
result cache. An edit bumps the revision and ConfigSignal broadcasts it on the routing
key ``textanalysis``, which every analysing service's replicas are bound to (not only
the writer's service); a replica that missed the signal reads the revision within
CONFIG_MAX_STALENESS_SECONDS. Nothing reads the store per event.
"""

from __future__ import annotations

import logging
from typing import Any

from nameko.extensions import DependencyProvider
from pymongo import DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from contracts.base import utcnow
from services.common.errors import BadRequest, Conflict, NotFound
from services.common.mongo import ConfigCache, Store, database_name, make_client
from textanalysis import lexicon as lists
from textanalysis import sentiment_model as sm
from textanalysis import text

log = logging.getLogger(__name__)

DATABASE = "lexicon"  # <MONGO_DB_PREFIX>lexicon
SIGNAL_KEY = "textanalysis"  # the change signal's routing key: every analysing service
MAX_HISTORY = 500


def _key(list_name: str, word: str) -> str:
    return f"{list_name}\t{word}"


def _state(entry: dict | None) -> dict | None:
    if entry is None:
        return None
    state = {"state": entry["state"], "aspect": entry.get("aspect")}
    return state | ({"labels": entry["labels"]} if entry.get("labels") else {})


def _removes_code(entry: dict | None, restored: dict | None) -> str | None:
    """The aspect code a revert takes away (None: it takes none away)."""
    if entry is None or entry["list"] != lists.CODES or entry["state"] != "added":
        return None
    return None if restored is not None and restored["state"] == "added" else entry["word"]


def checked_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("reason: say why (a non-empty string)")
    if len(reason) > lists.MAX_REASON_CHARS:
        raise BadRequest(f"reason: at most {lists.MAX_REASON_CHARS} characters")
    return reason.strip()


class LexiconStore(Store):
    """The overlay and its versions (see the module docstring)."""

    def __init__(self, db, max_staleness: float | None = None):
        super().__init__(db)
        self.cache = ConfigCache(db, self._load, meta="lexicon_meta", max_staleness=max_staleness)
        self.cache.signal_key = SIGNAL_KEY
        self._models: dict[int, sm.PolarityModel] = {}  # parsed versions (they never change)

    def indexes(self) -> dict[str, list]:
        return {}

    # reading ---------------------------------------------------------------------------

    def overlay(self) -> tuple[list[dict], int]:
        """The overlay's entries and the latest version (0: no edit yet)."""
        entries = list(self.db.entries.find({}, {"_id": 0}).sort([("list", 1), ("word", 1)]))
        meta = self.db.lexicon_meta.find_one({"_id": "versions"}) or {}
        return entries, meta.get("n", 0)

    def active_model(self) -> sm.PolarityModel | None:
        """The polarity model in use (services/common/sentiment_models.py), or None."""
        number = (self.db.lexicon_meta.find_one({"_id": "model"}) or {}).get("number")
        if number is None:
            return None
        if number not in self._models:
            doc = self.db.models.find_one({"_id": number}, {"body": 1})
            if doc is None:
                log.warning("model version %s is in use but not stored: the lexicon alone", number)
                return None
            self._models[number] = sm.PolarityModel.from_json(doc["body"])
        return self._models[number]

    def _load(self) -> text.Analyzer:
        entries, version = self.overlay()
        lexicon = text.Lexicon.with_overlay(entries, version)
        if lexicon.removed_domain:
            text.plain_tokenizer()  # built once (~1 s) here rather than by the first event
        return text.Analyzer(lexicon, self.active_model())

    def analyzer(self) -> text.Analyzer:
        """This replica's analyzer for the current overlay (no store read unless stale)."""
        return self.cache.get()

    def history(self, limit: int = 50, list_name: str | None = None) -> list[dict]:
        query = {"list": list_name} if list_name else {}
        limit = max(1, min(int(limit), MAX_HISTORY))
        return list(self.db.edits.find(query).sort("_id", DESCENDING).limit(limit))

    # writing ---------------------------------------------------------------------------

    def _next_version(self) -> int:
        doc = self.db.lexicon_meta.find_one_and_update(
            {"_id": "versions"}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return doc["n"]

    def _present(self, list_name: str, word: str, entry: dict | None) -> str | None | bool:
        """False when the word is not in the list now, else its aspect (None if not an aspect term)."""
        if entry is not None:
            return entry.get("aspect") if entry["state"] == "added" else False
        base = lists.base_lists()[list_name]
        return base[word] if word in base else False

    def _replace(self, key: str, entry: dict | None, new: dict | None) -> None:
        """Set the entry ``key`` to ``new`` (None: no entry) if it is still ``entry``."""
        if entry is None:
            if new is None:
                return
            try:
                self.db.entries.insert_one({"_id": key, **new})
            except DuplicateKeyError:
                raise Conflict(
                    f"{key.replace(chr(9), ': ')} changed concurrently; reload and retry"
                ) from None
            return
        expected = {"_id": key, "version": entry["version"]}
        if new is not None:
            changed = self.db.entries.replace_one(expected, new).matched_count
        else:
            changed = self.db.entries.delete_one(expected).deleted_count
        if changed == 0:
            raise Conflict(f"{key.replace(chr(9), ': ')} changed concurrently; reload and retry")

    def aspect_codes(self) -> tuple[str, ...]:
        """The live aspect codes, read from the store (not the cache)."""
        return lists.aspect_codes(self.db.entries.find({"list": lists.CODES}, {"_id": 0}))

    def aspect_terms_of(self, code: str) -> list[dict]:
        """The added aspect terms that name ``code``: ``[{"word", "version"}]``."""
        found = self.db.entries.find({"list": "aspects", "state": "added", "aspect": code})
        return [{"word": e["word"], "version": e["version"]} for e in found]

    def add_aspect(self, code, labels, actor: str, reason: str) -> dict:
        """A new aspect code with its zh-CN and en labels: a new version. Raises
        BadRequest naming the wrong field (``code`` also for a code that exists)."""
        try:
            new = lists.validate_new_aspect(code, labels, self.aspect_codes())
        except lists.LexiconError as exc:
            raise BadRequest(str(exc)) from None
        reason = checked_reason(reason)
        key = _key(lists.CODES, new["code"])
        version, at = self._next_version(), utcnow()
        entry = {"list": lists.CODES, "word": new["code"], "state": "added", "aspect": None}
        entry["labels"] = new["labels"]
        try:  # one insert: of two admins adding the same code at once, one gets the 400
            self.db.entries.insert_one(
                {"_id": key, **entry, "version": version, "actor": actor, "at": at, "reason": reason}
            )
        except DuplicateKeyError:
            raise BadRequest(f"code: aspect {new['code']!r} exists already") from None
        record = {"_id": version, "op": "add_aspect", **entry, "actor": actor, "at": at, "reason": reason}
        self.db.edits.insert_one({**record, "before": None, "after": _state(entry)})
        self.cache.bump()
        return {"changed": True, "version": version, "code": new["code"], "labels": new["labels"]}

    def edit(self, edit: dict, actor: str, reason: str) -> dict:
        """Add or remove one word: a new version, or ``changed: False`` when the lists
        already say so. Raises BadRequest naming the wrong field, Conflict on a race."""
        try:
            edit = lists.validate_edit(edit, self.aspect_codes())
        except lists.LexiconError as exc:
            raise BadRequest(str(exc)) from None
        reason = checked_reason(reason)
        key = _key(edit["list"], edit["word"])
        entry = self.db.entries.find_one({"_id": key})
        present = self._present(edit["list"], edit["word"], entry)
        wanted = edit["aspect"] if edit["op"] == "add" else False
        if present == wanted and (present is not False or edit["op"] == "remove"):
            return {"changed": False, **edit}
        version, at = self._next_version(), utcnow()
        state = "added" if edit["op"] == "add" else "removed"
        new = {"list": edit["list"], "word": edit["word"], "state": state, "aspect": edit["aspect"]}
        self._replace(key, entry, {**new, "version": version, "actor": actor, "at": at, "reason": reason})
        record = {"_id": version, **edit, "actor": actor, "at": at, "reason": reason}
        self.db.edits.insert_one({**record, "before": _state(entry), "after": _state(new)})
        self.cache.bump()
        return {"changed": True, "version": version, **edit}

    def _check_unused(self, code: str, users) -> None:
        terms = self.aspect_terms_of(code)
        if terms:
            named = ", ".join(f"{t['word']} (version {t['version']})" for t in terms)
            raise Conflict(f"version: aspect {code!r} still has terms: {named}; remove them first")
        using = list(users(code)) if users is not None else []
        if using:
            raise Conflict(f"version: aspect {code!r} is used by {', '.join(using)}; change them first")

    def revert(self, version: int, actor: str, reason: str, users=None) -> dict:
        """Undo edit ``version`` (as a new version): its word goes back to how it was
        before. Refused when a later edit changed the same word (revert that first).

        A revert that takes an added aspect code away is refused (Conflict, naming them)
        while an added aspect term names the code, or while ``users(code)`` (the saved
        rules and playbooks that name it) is not empty."""
        reason = checked_reason(reason)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise BadRequest(f"version: a version number ≥ 1, got {version!r}")
        done = self.db.edits.find_one({"_id": version})
        if done is None:
            raise NotFound(f"lexicon version {version}")
        key = _key(done["list"], done["word"])
        entry = self.db.entries.find_one({"_id": key})
        if entry is None or entry["version"] != version:
            later = entry["version"] if entry else "a later revert"
            raise Conflict(
                f"version: {done['word']!r} was changed again by version {later}; revert that first"
            )
        code = _removes_code(entry, done["before"])
        if code is not None:
            self._check_unused(code, users)
        new_version, at = self._next_version(), utcnow()
        before = done["before"]
        restored = (
            None
            if before is None
            else {"list": done["list"], "word": done["word"], **before, "version": new_version}
            | {"actor": actor, "at": at, "reason": reason}
        )
        self._replace(key, entry, restored)
        self.db.edits.insert_one(
            {
                "_id": new_version,
                "op": "revert",
                "reverts": version,
                "list": done["list"],
                "word": done["word"],
                "aspect": None,
                "actor": actor,
                "at": at,
                "reason": reason,
                "before": _state(entry),
                "after": before,
            }
        )
        self.cache.bump()
        return {
            "changed": True,
            "version": new_version,
            "reverts": version,
            "list": done["list"],
            "word": done["word"],
        }


def draft_analyzer(overlay: list[dict], version: int, edits: list[dict]) -> text.Analyzer:
    """An analyzer for ``overlay`` with unsaved ``edits`` on top (dry runs); raises
    BadRequest naming the wrong field of the first invalid edit."""
    try:
        entries = lists.apply_edits(overlay, edits)
    except lists.LexiconError as exc:
        raise BadRequest(f"edits: {exc}") from None
    return text.Analyzer(text.Lexicon.with_overlay(entries, version))


class LiveLexicon(DependencyProvider):
    """The replica's text analysis, following the admin's lexicon edits.

    Injects itself for the worker: ``.analyzer`` (the replica's current analyzer, taken
    when the worker started; no store read unless the cache may be stale) and ``.store``
    (LexiconStore, for the edit RPCs). The analyzer also becomes the process's current
    one (``textanalysis.text.use_analyzer``), which code calling ``text.analyze`` uses.
    ConfigSignal keeps its cache fresh (``config_caches``).
    """

    def __init__(self, warm_up: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.warm_up = warm_up  # False: a service that only needs the live aspect codes

    def setup(self) -> None:
        if self.warm_up:
            text.warm_up()
        self.client = make_client(appname=f"cx-{self.container.service_name}-lexicon")
        self.store = LexiconStore(self.client[database_name(DATABASE)])

    def config_caches(self) -> list[ConfigCache]:
        return [self.store.cache]

    def stop(self) -> None:
        self.client.close()

    def kill(self) -> None:
        self.client.close()

    def get_dependency(self, worker_ctx) -> LiveText:
        return LiveText(self.store)

    def worker_setup(self, worker_ctx) -> None:
        # code that calls text.analyze (profiles' insight, the gateway's case view) uses
        # the process's current analyzer: bring it up to date for each worker (no store
        # read unless the cache may be stale)
        try:
            text.use_analyzer(self.store.analyzer())
        except PyMongoError as exc:
            log.warning("lexicon revision not readable (%s); analysing with the one loaded", exc)


class LiveText:
    """What a worker gets from LiveLexicon: ``analyzer`` is taken on first use, then fixed
    for the worker; while the store is out of reach, the one loaded last."""

    def __init__(self, store: LexiconStore):
        self.store = store
        self._analyzer: text.Analyzer | None = None

    @property
    def analyzer(self) -> text.Analyzer:
        if self._analyzer is None:
            try:
                analyzer = self.store.analyzer()
            except PyMongoError as exc:
                if self.store.cache.value is None:
                    raise
                # the store is out of reach: the lexicon loaded last, until it is back
                log.warning("lexicon revision not readable (%s); analysing with the one loaded", exc)
                analyzer = self.store.cache.value
            text.use_analyzer(analyzer)
            self._analyzer = analyzer
        return self._analyzer
