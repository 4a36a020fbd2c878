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
from collections.abc import Iterator, MutableMapping
from typing import Any, ClassVar

from werkzeug.http import dump_cookie
from werkzeug.wrappers import Response as WerkzeugResponse

from ..backends import BackendUnavailable, KeyValueStore, open_backend
from ..exceptions import ImproperlyConfigured
from ..settings import Settings
from ..wrappers import Request
from . import _tagged_json
from ._cookies import cookie_options, cookie_value, signing_keys
from ._http import add_vary, problem_response
from ._session_stores import KEY_PREFIX as KEY_PREFIX
from ._session_stores import SIGNING_SALT as SIGNING_SALT
from ._session_stores import VERIFIED_CACHE_SIZE as VERIFIED_CACHE_SIZE
from ._session_stores import BackendStore, SignedCookieStore, Store
from .base import BaseMiddleware

#: Two weeks, Django's ``SESSION_COOKIE_AGE``.
DEFAULT_MAX_AGE = 14 * 24 * 3600

_logger = logging.getLogger(__name__)
_UNPARSED = object()


class SessionCookieTooLarge(RuntimeError):
    """The signed session is larger than a browser stores in one cookie."""


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

    def __init__(self, store: Store, cookie_header: str | None, cookie_name: str) -> None:
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
            cookie = self._cookie = cookie_value(header, name)
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

    def get(self, key: str, default: Any = None) -> Any:
        # PERF: Mapping's get raises and catches KeyError for a missing key (~1 us),
        # the usual answer for the user id of a visitor nobody logged in.
        return self._loaded().get(key, default)

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


class SessionMiddleware(BaseMiddleware):
    """Give every request a ``request.session``, saved when it changed.

    With no ``backend`` (and no ``SESSION_BACKEND`` setting) the session lives in
    a cookie signed with ``SECRET_KEY``; with one, the cookie holds a random id and
    the data lives in the store. The parameters are documented in
    docs/middlewares/session.md.

    The cookie's attributes are the ``cookie_*`` parameters, as CSRFMiddleware's
    and Django's ``SESSION_COOKIE_*`` settings are. ``cookie_max_age`` is also
    how long a session lives: the signature's lifetime and the store's TTL, as
    Django's ``SESSION_COOKIE_AGE`` is.
    """

    ordering_role: ClassVar[str] = "session"

    def __init__(
        self,
        *,
        cookie_name: str = "session",
        cookie_max_age: int | None = DEFAULT_MAX_AGE,
        cookie_path: str = "/",
        cookie_domain: str | None = None,
        cookie_secure: bool | None = None,
        cookie_httponly: bool = True,
        cookie_samesite: str = "Lax",
        refresh_each_request: bool = False,
        backend: str | None = None,
        secret_key: str | None = None,
        secret_key_fallbacks: list[str] | None = None,
        config: Settings | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        owner = type(self).__name__
        if cookie_max_age is not None and cookie_max_age <= 0:
            raise ImproperlyConfigured(
                f"{owner}: cookie_max_age must be a positive number of seconds (default "
                f"{DEFAULT_MAX_AGE}, two weeks), or None for a cookie that ends with the "
                f"browser session; got {cookie_max_age}."
            )
        self.cookie_name = cookie_name
        self.cookie_max_age = cookie_max_age
        self.refresh_each_request = refresh_each_request
        self.logger = logger or _logger
        self._cookie_secure = cookie_secure
        self._cookie_options = cookie_options(
            owner,
            cookie_name,
            path=cookie_path,
            domain=cookie_domain,
            secure=cookie_secure,
            httponly=cookie_httponly,
            samesite=cookie_samesite,
        )
        # A cookie without a max-age ends with the browser session; the stored data
        # and the signature still expire, after the default.
        ttl = cookie_max_age or DEFAULT_MAX_AGE
        url = backend if backend is not None or config is None else config.SESSION_BACKEND
        #: The server-side store, or ``None`` for signed-cookie sessions.
        self.backend: KeyValueStore | None = None
        self._store: Store
        if url:
            self.backend = _open(url, owner)
            self._store = BackendStore(self.backend, ttl, owner)
        else:
            keys = signing_keys(owner, secret_key, secret_key_fallbacks, config)
            self._store = SignedCookieStore(keys, ttl, owner)

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
        secure = request.is_secure if self._cookie_secure is None else self._cookie_secure
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
            max_age=self.cookie_max_age,
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
        return problem_response(
            503,
            "The session store cannot be reached. Please try again in a moment.",
            {"Retry-After": "5"},
        )


def _open(url: str, owner: str) -> KeyValueStore:
    try:
        return open_backend(url, purpose="sessions")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured(f"{owner}: backend: {exc}") from exc
