"""Sessions: ``request.session``, kept in a signed cookie or in a server-side store.

The session loads on first use, so a request whose view never touches it costs
one attribute assignment, and nothing is written (no cookie, no stored row)
unless it changed, was rotated or cleared, or must be refreshed. Values are
stored as tagged JSON (tuples, bytes, datetimes, UUIDs and Markup come back as
they went in), never pickled: a leaked ``SECRET_KEY`` must not become remote code
execution.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator, MutableMapping
from typing import Any, ClassVar, Protocol

from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.http import dump_cookie
from werkzeug.sansio.http import parse_cookie
from werkzeug.wrappers import Response as WerkzeugResponse

from ..backends import Backend, BackendUnavailable, open_backend
from ..exceptions import ImproperlyConfigured
from ..settings import Settings
from ..wrappers import Request, Response
from . import _tagged_json
from ._http import HTTP_TOKEN, add_vary
from .base import BaseMiddleware

#: Two weeks, Django's ``SESSION_COOKIE_AGE``.
DEFAULT_MAX_AGE = 14 * 24 * 3600
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

_CLASS = "SessionMiddleware"
_SAMESITE = {"lax": "Lax", "strict": "Strict", "none": "None"}

_logger = logging.getLogger(__name__)
_UNPARSED = object()


class SessionCookieTooLarge(RuntimeError):
    """The signed session is larger than a browser stores in one cookie."""


class _Store(Protocol):
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


class Session(MutableMapping[str, Any]):
    """``request.session``: a dict-like object that loads on first use.

    Assigning or deleting a key marks it modified; changing a value in place
    (``session["cart"].append(3)``) does not, so reassign the value or set
    ``session.modified = True``, as in Django. A value the session cannot store
    is a ``TypeError`` when it is assigned, naming the key, not a 500 once the
    view has returned.
    """

    __slots__ = (
        "_cookie",
        "_cookie_header",
        "_data",
        "_store",
        "accessed",
        "key",
        "modified",
        "new_key",
    )

    def __init__(self, store: _Store, cookie_header: str | None, cookie_name: str) -> None:
        self._store = store
        # PERF: the raw Cookie header and the cookie's name; parsed only if needed.
        self._cookie_header = (cookie_header, cookie_name)
        self._cookie: str | object | None = _UNPARSED
        self._data: dict[str, Any] | None = None
        #: Whether anything read or wrote the session (the response then varies on Cookie).
        self.accessed = False
        #: Whether the session must be saved.
        self.modified = False
        #: The id the data is stored under (server-side sessions only); ``None`` for
        #: a session that does not exist in the store yet.
        self.key: str | None = None
        #: Whether the data must move to a new id: :meth:`rotate` or :meth:`clear`.
        self.new_key = False

    @property
    def cookie(self) -> str | None:
        """The value of the session cookie the request carried, if any."""
        cookie = self._cookie
        if cookie is _UNPARSED:
            header, name = self._cookie_header
            # werkzeug's sansio parser: request.cookies also decodes the header as
            # UTF-8, and raises on a badly encoded one.
            cookie = self._cookie = parse_cookie(header).get(name) if header else None
        return cookie  # type: ignore[return-value]

    def _loaded(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            self.accessed = True
            cookie = self.cookie
            data, self.key = self._store.load(cookie) if cookie else ({}, None)
            self._data = data
        return data

    def __getitem__(self, key: str) -> Any:
        return self._loaded()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str):
            raise TypeError(f"Session keys are strings; got {type(key).__name__} {key!r}.")
        try:
            _tagged_json.tag(value)
        except TypeError as exc:
            raise TypeError(f"request.session[{key!r}] = {type(value).__name__}: {exc}.") from None
        self._loaded()[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._loaded()[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __contains__(self, key: object) -> bool:
        return key in self._loaded()

    def clear(self) -> None:
        """Empty the session and forget its stored data (logout).

        The browser's cookie is deleted too, unless the request stores something
        new afterwards, which then gets a new id.
        """
        self._loaded().clear()
        self.modified = True
        self.new_key = True

    @property
    def established(self) -> bool:
        """Whether adding data to this session stores nothing new.

        True for signed-cookie sessions (the data travels in the cookie) and for
        server-side sessions that already exist in their store and are not being
        moved or cleared in this request (:meth:`rotate`, :meth:`clear`).
        CSRFMiddleware keeps its secret in an established session only, so an
        anonymous visit to a page with a form stores nothing server-side.
        """
        if not self._store.creates_records:
            return True
        self._loaded()
        return self.key is not None and not self.new_key

    def rotate(self) -> None:
        """Keep the data under a new id, and delete the old one (call it on login).

        An attacker who planted a session id in the victim's browser before
        login (session fixation) is then left holding an id that loads nothing.
        """
        # mutation: equivalent "call deleted" - saving loads the session first anyway
        self._loaded()
        self.modified = True
        self.new_key = True

    def __repr__(self) -> str:
        shown = "not loaded" if self._data is None else repr(self._data)
        return f"<Session {shown}{' modified' if self.modified else ''}>"


class _SignedCookieStore:
    """The whole session in the cookie, signed and timestamped with itsdangerous."""

    creates_records = False

    def __init__(self, keys: list[str], max_age: int) -> None:
        # itsdangerous signs with the last key and verifies with any of them.
        self._serializer = URLSafeTimedSerializer(keys, salt=SIGNING_SALT, serializer=_JSON)
        self._max_age = max_age
        # PERF: verifying a cookie costs ~15 us in itsdangerous (key derivation,
        # HMAC and base64 in Python, per key), and a browser sends the same cookie
        # on every request until the session changes. Cookies that verified are
        # kept here, exact string -> (signed at, data as JSON), so a repeat costs
        # a dict lookup and a json.loads. A forged or altered cookie is never a
        # key, and the age is checked on every hit as itsdangerous would.
        self._verified: dict[str, tuple[float, str]] = {}
        self._verified_lock = threading.Lock()

    def load(self, cookie: str) -> tuple[dict[str, Any], str | None]:
        if len(cookie) > WerkzeugResponse.max_cookie_size:
            return {}, None  # no browser sends it; not worth verifying
        cached = self._verified.get(cookie)
        if cached is not None and 0 <= time.time() - cached[0] <= self._max_age:
            data: dict[str, Any] = _tagged_json.loads(cached[1])  # a fresh dict per request
            return data, None
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
            self._verified[cookie] = (signed_at.timestamp(), _dumps(loaded))
        return loaded, None

    def save(self, data: dict[str, Any], key: str | None, new_key: bool) -> str:
        return self._serializer.dumps(data)

    def discard(self, key: str | None) -> None:
        pass  # the data lives in the cookie, which is deleted


class _BackendStore:
    """The data in a backend under a random id; the cookie holds only the id."""

    creates_records = True

    def __init__(self, backend: Backend, ttl: int) -> None:
        self.backend = backend
        self._ttl = ttl

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
        value = _dumps(data).encode()
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
            f"{_CLASS}: {_ID_ATTEMPTS} new random session ids were all taken in "
            f"{self.backend.url}; the store is not honouring add()."
        )

    def discard(self, key: str | None) -> None:
        if key is not None:
            self.backend.delete(KEY_PREFIX + key)


class _JSON:
    """The serializer of signed cookies: tagged JSON, with our :func:`_dumps`."""

    loads = staticmethod(_tagged_json.loads)

    @staticmethod
    def dumps(data: dict[str, Any]) -> str:
        return _dumps(data)


def _dumps(data: dict[str, Any]) -> str:
    # Assignment checked each value; this catches one changed in place since
    # (session["cart"].append(object())).
    try:
        return _tagged_json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{_CLASS} stores sessions as tagged JSON and cannot store this session: {exc}."
        ) from exc


class SessionMiddleware(BaseMiddleware):
    """Give every request a ``request.session``, saved when it changed.

    With no ``backend`` (and no ``SESSION_BACKEND`` setting) the session lives in
    a cookie signed with ``SECRET_KEY``; with one, the cookie holds a random id and
    the data lives in the store. The parameters are documented in
    docs/middlewares/session.md.
    """

    ordering_role: ClassVar[str] = "session"

    def __init__(
        self,
        *,
        cookie_name: str = "session",
        max_age: int | None = DEFAULT_MAX_AGE,
        path: str = "/",
        domain: str | None = None,
        secure: bool | None = None,
        httponly: bool = True,
        samesite: str = "Lax",
        refresh_each_request: bool = False,
        backend: str | None = None,
        secret_key: str | None = None,
        fallback_keys: list[str] | None = None,
        config: Settings | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        if max_age is not None and max_age <= 0:
            raise ImproperlyConfigured(
                f"{_CLASS}: max_age must be a positive number of seconds (default "
                f"{DEFAULT_MAX_AGE}, two weeks), or None for a cookie that ends with the "
                f"browser session; got {max_age}."
            )
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.refresh_each_request = refresh_each_request
        self.logger = logger or _logger
        self._secure = secure
        self._cookie_options = cookie_options(
            _CLASS,
            cookie_name,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )
        # A cookie without max_age ends with the browser session; the stored data
        # and the signature still expire, after the default.
        ttl = max_age or DEFAULT_MAX_AGE
        url = backend if backend is not None or config is None else config.SESSION_BACKEND
        #: The server-side store, or ``None`` for signed-cookie sessions.
        self.backend: Backend | None = None
        self._store: _Store
        if url:
            self.backend = _open(url)
            self._store = _BackendStore(self.backend, ttl)
        else:
            keys = signing_keys(_CLASS, secret_key, fallback_keys, config)
            self._store = _SignedCookieStore(keys, ttl)

    def close(self) -> None:
        """Release the store's connections; :meth:`App.close` calls this."""
        if self.backend is not None:
            self.backend.close()

    def process_request(self, request: Request) -> None:
        # PERF: the Cookie header is parsed only if the session is used.
        request.session = Session(self._store, request.environ.get("HTTP_COOKIE"), self.cookie_name)

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        session: Session = request.session
        if session.modified or (self.refresh_each_request and session.cookie):
            try:
                self._save(request, response, session)
            except BackendUnavailable as exc:
                return self._unavailable(request, exc)
        # After saving, which loads a session only refreshed: a response carrying
        # someone's session cookie must not be cached for everyone.
        if session.accessed:
            add_vary(response.headers, "Cookie")
        return response

    def process_exception(self, request: Request, exc: Exception) -> WerkzeugResponse | None:
        if isinstance(exc, BackendUnavailable):
            return self._unavailable(request, exc)
        return None

    def _save(self, request: Request, response: WerkzeugResponse, session: Session) -> None:
        data = session._loaded()  # a refresh may not have loaded it yet
        secure = request.is_secure if self._secure is None else self._secure
        if not data:
            # Nothing to keep: forget the stored data and the browser's cookie.
            if session.modified and session.cookie is not None:
                self._store.discard(session.key)
                response.headers.add(
                    "Set-Cookie",
                    dump_cookie(
                        self.cookie_name,
                        "",
                        max_age=0,
                        expires=0,
                        secure=secure,
                        **self._cookie_options,
                    ),
                )
            return
        value = self._store.save(data, session.key, session.new_key)
        if value is None:
            # The browser's cookie is the concern of the request that ended the session.
            self.logger.info(
                "Session changes on %s %r dropped: a concurrent request ended the "
                "session (logout or login) or it expired meanwhile.",
                request.method,
                request.path,
            )
            return
        header = dump_cookie(
            self.cookie_name,
            value,
            max_age=self.max_age,
            secure=secure,
            max_size=0,  # measured below, with a clearer error than werkzeug's warning
            **self._cookie_options,
        )
        if len(header) > response.max_cookie_size:
            raise SessionCookieTooLarge(
                f"The session cookie {self.cookie_name!r} would be {len(header)} bytes; "
                f"browsers drop cookies over {response.max_cookie_size} bytes, so the "
                f"session ({', '.join(map(repr, data))}) was not saved. Store less in it, "
                "or keep sessions server-side (the SESSION_BACKEND setting)."
            )
        response.headers.add("Set-Cookie", header)

    def _unavailable(self, request: Request, exc: Exception) -> WerkzeugResponse:
        self.logger.error(
            "Session store unavailable on %s %r; answering 503: %s",
            request.method,
            request.path,
            exc,
        )
        return Response(
            "Service Unavailable: the session store cannot be reached. "
            "Please try again in a moment.\n",
            status=503,
            mimetype="text/plain",
            headers={"Retry-After": "5"},
        )


def _open(url: str) -> Backend:
    try:
        return open_backend(url, purpose="sessions")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"{_CLASS}: backend: {exc}") from exc


def signing_keys(
    owner: str, secret_key: str | None, fallback_keys: list[str] | None, config: Settings | None
) -> list[str]:
    """The keys to sign with, oldest first, the order itsdangerous wants: the last signs.

    ``secret_key`` defaults to ``SECRET_KEY`` and ``fallback_keys`` to
    ``SECRET_KEY_FALLBACKS``; values signed with a fallback still verify.
    """
    key = secret_key if secret_key is not None or config is None else config.SECRET_KEY
    if not key:
        raise ImproperlyConfigured(
            f"{owner}: SECRET_KEY is empty, and a cookie signed with an empty key can be "
            "forged by anyone. Set SECRET_KEY (even with DEBUG on), or pass "
            "params {'secret_key': ...}."
        )
    if fallback_keys is None:
        fallback_keys = [] if config is None else config.SECRET_KEY_FALLBACKS
    return [*reversed(fallback_keys), key]


def cookie_options(
    owner: str,
    name: str,
    *,
    path: str,
    domain: str | None,
    secure: bool | None,
    httponly: bool,
    samesite: str,
) -> dict[str, Any]:
    """Checked ``dump_cookie`` arguments, ``secure`` left out (it may depend on the request).

    Browsers silently drop a cookie that breaks these rules; refusing it at
    start-up saves an afternoon of wondering why nobody stays logged in.
    """
    if not HTTP_TOKEN.fullmatch(name):  # a cookie name is a token (RFC 6265 4.1.1)
        raise ImproperlyConfigured(
            f"{owner}: cookie name {name!r} is not a valid cookie name; use letters, digits "
            "and '-_.' only."
        )
    same_site = _SAMESITE.get(samesite.lower())
    if same_site is None:
        raise ImproperlyConfigured(
            f"{owner}: samesite must be 'Lax', 'Strict' or 'None'; got {samesite!r}."
        )
    if same_site == "None" and secure is not True:
        raise ImproperlyConfigured(
            f"{owner}: samesite 'None' needs secure=True: browsers drop a SameSite=None "
            "cookie that is not Secure. Set secure to true (and serve over HTTPS), or use "
            "samesite 'Lax'."
        )
    if name.startswith(("__Host-", "__Secure-")) and secure is not True:
        raise ImproperlyConfigured(
            f"{owner}: a cookie named {name!r} needs secure=True; browsers ignore it otherwise."
        )
    if name.startswith("__Host-") and (path != "/" or domain is not None):
        raise ImproperlyConfigured(
            f"{owner}: a cookie named {name!r} needs path '/' and no domain; browsers "
            "ignore it otherwise."
        )
    return {"path": path, "domain": domain, "httponly": httponly, "samesite": same_site}
