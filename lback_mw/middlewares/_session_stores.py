"""Where SessionMiddleware keeps session data: the signed cookie itself, or a backend."""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.wrappers import Response as WerkzeugResponse

from ..backends import KeyValueStore
from . import _tagged_json

#: What the signature of a session cookie is salted with, so no other signed
#: value made with the same ``SECRET_KEY`` (a CSRF cookie) passes for a session.
SIGNING_SALT = "lback_mw.session"
#: How many verified session cookies each process remembers (a few hundred bytes each).
VERIFIED_CACHE_SIZE = 1024  # mutation: equivalent - a capacity: any size but memory alike
#: Prefix of the keys sessions are stored under in a backend.
KEY_PREFIX = "session:"
#: ``secrets.token_urlsafe(32)``: 256 random bits, 43 characters.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")
_ID_ATTEMPTS = 5

# The middleware's logger: what operators filter on, wherever the code lives.
_logger = logging.getLogger("lback_mw.middlewares.session")


class Store(Protocol):
    """Where session data lives: the cookie itself, or a backend keyed by the cookie."""

    def load(self, cookie: str) -> tuple[dict[str, Any], str | None]:
        """The data for ``cookie``'s value, and the id it is stored under (if any)."""

    def save(self, data: dict[str, Any], key: str | None, new_key: bool) -> str | None:
        """Store ``data`` and return the cookie value that finds it again, or ``None``
        if the session ``key`` no longer exists (it was not stored again)."""

    def discard(self, key: str | None) -> None:
        """Forget the data stored under ``key``."""

    #: Whether saving a session creates a record (a row, a Redis key) in a store.
    creates_records: bool


class SignedCookieStore:
    """The whole session in the cookie, signed and timestamped with itsdangerous."""

    creates_records = False

    def __init__(self, keys: list[str], max_age: int, owner: str) -> None:
        # itsdangerous signs with the last key and verifies with any of them.
        self._serializer = URLSafeTimedSerializer(keys, salt=SIGNING_SALT, serializer=_JSON(owner))
        self._max_age = max_age
        self._owner = owner
        # PERF: verifying a cookie costs ~15 us in itsdangerous (key derivation,
        # HMAC and base64 in Python, per key), and a browser sends the same cookie
        # on every request until the session changes. Cookies that verified are
        # kept here, exact string -> (signed at, a copier of the data), so a repeat
        # costs a dict lookup and a copy (_tagged_json.copier). A forged or altered
        # cookie is never a key, and the age is checked on every hit as
        # itsdangerous would.
        self._verified: dict[str, tuple[float, Callable[[], dict[str, Any]]]] = {}
        self._verified_lock = threading.Lock()

    def load(self, cookie: str) -> tuple[dict[str, Any], str | None]:
        if len(cookie) > WerkzeugResponse.max_cookie_size:
            return {}, None  # no browser sends it; not worth verifying
        cached = self._verified.get(cookie)
        if cached is not None and 0 <= time.time() - cached[0] <= self._max_age:
            return cached[1](), None  # a fresh dict per request
        try:
            loaded, signed_at = self._serializer.loads(
                cookie, max_age=self._max_age, return_timestamp=True
            )
        except BadData:  # tampered, signed with another key, expired, or garbage
            return {}, None
        if not isinstance(loaded, dict):
            return {}, None
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]  # the oldest entry
            self._verified[cookie] = (signed_at.timestamp(), _tagged_json.copier(loaded))
        return loaded, None

    def save(self, data: dict[str, Any], key: str | None, new_key: bool) -> str:
        return self._serializer.dumps(data)

    def discard(self, key: str | None) -> None:
        pass  # the data lives in the cookie, which is deleted


class BackendStore:
    """The data in a backend under a random id; the cookie holds only the id."""

    creates_records = True

    def __init__(self, backend: KeyValueStore, ttl: int, owner: str) -> None:
        self.backend = backend
        self._ttl = ttl
        self._owner = owner

    def load(self, cookie: str) -> tuple[dict[str, Any], str | None]:
        # Anything that is not one of our ids never reaches the store.
        if not _SESSION_ID.fullmatch(cookie):
            return {}, None
        raw = self.backend.get(KEY_PREFIX + cookie)
        if raw is None:
            # Unknown or expired: never adopt an id the client made up (fixation).
            return {}, None
        try:
            data = _tagged_json.loads(raw)
        except ValueError:
            _logger.warning("Session %s... holds data that is not JSON; ignoring it.", cookie[:6])
            return {}, None
        return (data, cookie) if isinstance(data, dict) else ({}, None)

    def save(self, data: dict[str, Any], key: str | None, new_key: bool) -> str | None:
        value = dumps(data, self._owner).encode()
        if key is not None and not new_key:
            # Not set(): a session deleted since this request loaded it (a logout, a
            # rotation on login in another tab) must stay deleted, not come back.
            return key if self.backend.replace(KEY_PREFIX + key, value, self._ttl) else None
        for _ in range(_ID_ATTEMPTS):  # 256-bit ids never collide, but add() says so
            candidate = secrets.token_urlsafe(32)
            if self.backend.add(KEY_PREFIX + candidate, value, self._ttl):
                # Only once the data is safe under the new id: a store failing in
                # between (a 503) must leave the session where it was, not lose it.
                self.discard(key)
                return candidate
        raise RuntimeError(
            f"{self._owner}: {_ID_ATTEMPTS} new random session ids were all taken in "
            f"{self.backend.url}; the store is not honouring add()."
        )

    def discard(self, key: str | None) -> None:
        if key is not None:
            self.backend.delete(KEY_PREFIX + key)


class _JSON:
    """The serializer of signed cookies: tagged JSON, with our :func:`dumps`."""

    loads = staticmethod(_tagged_json.loads)

    def __init__(self, owner: str) -> None:
        self._owner = owner

    def dumps(self, data: dict[str, Any]) -> str:
        return dumps(data, self._owner)


def dumps(data: dict[str, Any], owner: str) -> str:
    """Session data as tagged JSON, or a TypeError naming the middleware, ``owner``."""
    # Assignment checked each value; this catches one changed in place since
    # (session["cart"].append(object())).
    try:
        return _tagged_json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{owner} stores sessions as tagged JSON and cannot store this session: {exc}."
        ) from exc
