"""Logging users in and out, guarding views, and choosing where to go after login.

:class:`~lback_mw.middlewares.auth.AuthenticationMiddleware` sets ``request.user``
on every request; the functions here are what views call to change who that is.
The user objects are the project's own: anything with an ``id`` attribute or a
``get_id()`` method (see :class:`UserMixin`).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from werkzeug.exceptions import Unauthorized

from .exceptions import ImproperlyConfigured
from .wrappers import Request

F = TypeVar("F", bound=Callable[..., Any])

#: Where AuthenticationMiddleware leaves its :class:`AuthState`, for login() and logout().
ENVIRON_KEY = "lback_mw.auth"


@dataclass(frozen=True, slots=True)
class AuthState:
    """What login() needs of AuthenticationMiddleware, left in the environ per request.

    Only this, not the middleware: the helpers here then need nothing of
    ``middlewares/``, which builds on this module.
    """

    #: Loads the session's user; ``None`` when only bearer tokens are accepted.
    user_loader: Callable[[str], Any] | None
    #: The session key holding the user's id.
    session_key: str


class AnonymousUser:
    """``request.user`` when nobody is logged in.

    Falsy, unlike Django's: ``if request.user:`` then means "someone is logged
    in", so a view guarded that way fails closed instead of letting everyone in.
    """

    __slots__ = ()

    id: ClassVar[None] = None
    is_authenticated: ClassVar[bool] = False
    is_anonymous: ClassVar[bool] = True

    def get_id(self) -> None:
        return None

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "<AnonymousUser>"


#: The one AnonymousUser the middleware and the helpers hand out (it holds no state).
ANONYMOUS = AnonymousUser()


class UserMixin:
    """Optional base for the project's user class: what views and templates expect.

    The middleware needs nothing but an ``id`` (or ``get_id()``); these
    attributes let ``request.user.is_authenticated`` work on every user, as it
    does on :class:`AnonymousUser`.
    """

    is_authenticated: ClassVar[bool] = True
    is_anonymous: ClassVar[bool] = False

    def get_id(self) -> str:
        """The id stored in the session, as a string (``user_loader`` receives it back)."""
        return str(self.id)  # type: ignore[attr-defined]


class LoginRequired(Unauthorized):
    """Raised by :func:`login_required` (or a view) for an anonymous user.

    AuthenticationMiddleware answers it like a protected path: a redirect to the
    login page for browsers, a 401 for API clients.
    """


def login(request: Request, user: Any) -> None:
    """Log ``user`` in: remember their id in the session, under a new session id.

    The session keeps its data under a new id (and the CSRF secret is replaced),
    so an id or token an attacker planted before login is worthless after it. If
    the session belonged to another user, its data is dropped instead of kept.
    """
    session, auth = _session_and_auth(request, "login")
    if auth.user_loader is None:
        raise ImproperlyConfigured(
            "login() stores the user's id in the session, but AuthenticationMiddleware has "
            "no user_loader to load the user back on the next request (it only accepts "
            "bearer tokens). Provide a user_loader dependency."
        )
    user_id = user_id_of(user)
    if session.get(auth.session_key, user_id) != user_id:
        session.clear()  # another user's cart or flash messages are not this user's
    else:
        session.rotate()
    session[auth.session_key] = user_id
    # CSRFMiddleware's token rotates itself (see lback_mw.middlewares.csrf.CSRFToken).
    rotate_csrf_token = getattr(getattr(request, "csrf_token", None), "rotate", None)
    if callable(rotate_csrf_token):
        rotate_csrf_token()
    request.user = user


def logout(request: Request) -> None:
    """Log the user out: empty the session (its cookie is deleted) and forget the user.

    A bearer token stays valid: revoke it in your token store.
    """
    session, _ = _session_and_auth(request, "logout")
    session.clear()
    request.user = ANONYMOUS


def login_required(view: F) -> F:
    """Decorator: the view runs only for a logged-in user.

    Anyone else gets what AuthenticationMiddleware answers for a protected path:
    a redirect to the login page, or a 401 for API clients.
    """

    @functools.wraps(view)
    def guarded(request: Request, /, *args: Any, **values: Any) -> Any:
        try:
            user = request.user
        except AttributeError:
            raise ImproperlyConfigured(
                f"@login_required on {view.__qualname__!r}: request.user is not set, so "
                "AuthenticationMiddleware did not run for this request. Add "
                "'lback_mw.middlewares.AuthenticationMiddleware' to MIDDLEWARES."
            ) from None
        if isinstance(user, AnonymousUser):
            raise LoginRequired()
        return view(request, *args, **values)

    return guarded  # type: ignore[return-value]


def safe_next_url(request: Request, default: str = "/", *, param: str = "next") -> str:
    """Where to send the user after login: the ``next`` query or form value if it
    stays on this site, else ``default``.

    Never redirect to ``next`` unchecked: a link to ``/login?next=https://evil.example``
    would otherwise send your users, freshly logged in, to a look-alike site.
    """
    candidate = request.values.get(param)
    if candidate and is_same_site(candidate, request):
        return candidate
    return default


def is_same_site(url: str, request: Request) -> bool:
    """Whether a browser redirected to ``url`` stays on ``request``'s site.

    Accepts paths starting with a single ``/``, and absolute URLs of this very
    host (``https`` always; ``http`` only if the request was). Written by hand as
    Django's ``url_has_allowed_host_and_scheme`` is: ``urlsplit`` parses as the
    RFC says, browsers do not. They drop tabs and newlines anywhere in a URL, read
    ``\\`` as ``/`` and ``//host`` as another site.
    """
    if any(unicodedata.category(char)[0] == "C" for char in url) or url != url.strip():
        return False
    normalised = url.replace("\\", "/")
    try:
        parts = urlsplit(normalised)
    except ValueError:  # an unbalanced IPv6 bracket, say
        return False
    if not parts.scheme and not parts.netloc:
        return normalised.startswith("/") and not normalised.startswith("//")
    return parts.netloc.lower() == request.host.lower() and parts.scheme.lower() in (
        "https",
        request.scheme,
    )


def user_id_of(user: Any) -> str:
    """The id ``login()`` stores for ``user``: ``user.get_id()``, else ``user.id``, as a string."""
    get_id = getattr(user, "get_id", None)
    user_id = get_id() if callable(get_id) else getattr(user, "id", None)
    if user_id is None:
        raise TypeError(
            f"login() needs a user with an id, and {type(user).__name__} {user!r:.60} has "
            "none: give the class an 'id' attribute or a get_id() method, and save a new "
            "user before logging it in."
        )
    return str(user_id)


def require_session(request: Request, needs: str) -> Any:
    """``request.session``, or an error saying that ``needs`` it (``"login() needs
    request.session"``) and where SessionMiddleware goes."""
    session = getattr(request, "session", None)
    if session is None:
        raise ImproperlyConfigured(
            f"{needs}, and no SessionMiddleware ran for this request: add "
            "'lback_mw.middlewares.SessionMiddleware' above AuthenticationMiddleware in "
            "MIDDLEWARES."
        )
    return session


def _session_and_auth(request: Request, helper: str) -> tuple[Any, AuthState]:
    """``request.session`` (a dict with ``rotate()``) and the middleware's state, or a
    clear error."""
    session = require_session(request, f"{helper}() needs request.session")
    auth: AuthState | None = request.environ.get(ENVIRON_KEY)
    if auth is None:
        raise ImproperlyConfigured(
            f"{helper}() needs AuthenticationMiddleware, which did not run for this request: "
            "add 'lback_mw.middlewares.AuthenticationMiddleware' to MIDDLEWARES, after "
            "SessionMiddleware."
        )
    return session, auth
