"""Authentication: ``request.user`` from the session or a bearer token.

Users come from the project, through two functions provided by name:
``user_loader(user_id)`` for the id :func:`lback_mw.auth.login` stored in the
session, and ``token_loader(token)`` for ``Authorization: Bearer`` tokens. Either
returns the user, or ``None`` for nobody. The session user loads on first use of
``request.user``, so a view that never looks at it costs no session read and no
user query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Annotated, Any, ClassVar
from urllib.parse import urlencode, urlsplit

from werkzeug.http import quote_header_value
from werkzeug.utils import redirect
from werkzeug.wrappers import Response as WerkzeugResponse

from .._imports import FunctionOrPath
from ..auth import (
    ANONYMOUS,
    ENVIRON_KEY,
    AnonymousUser,
    AuthState,
    LoginRequired,
    require_session,
)
from ..exceptions import ImproperlyConfigured
from ..paths import compile_option_paths
from ..settings import Settings
from ..wrappers import Request, Response
from ._http import BEARER_TOKEN, problem_response, request_target
from .base import BaseMiddleware

#: ``user_loader(user_id)`` and ``token_loader(token)``: the user, or ``None``.
Loader = Callable[[str], Any]
_USER_LOADER = FunctionOrPath("user_loader(user_id: str) returning the user or None")
_TOKEN_LOADER = FunctionOrPath("token_loader(token: str) returning the user or None")

#: Django's key, under another name: where ``login()`` keeps the user's id.
DEFAULT_SESSION_KEY = "_auth_user_id"
_PAGE_OR_JSON = ("text/html", "application/json")
# What a path may keep unescaped in the ``next`` parameter (RFC 3986 pchar and "/").


class AuthenticationMiddleware(BaseMiddleware):
    """Set ``request.user`` on every request; guard ``protected_paths``.

    The parameters are documented in docs/middlewares/auth.md.
    """

    ordering_role: ClassVar[str] = "auth"

    def __init__(
        self,
        *,
        user_loader: Annotated[Loader | str, _USER_LOADER] | None = None,
        token_loader: Annotated[Loader | str, _TOKEN_LOADER] | None = None,
        bearer: bool | None = None,
        session_key: str = DEFAULT_SESSION_KEY,
        protected_paths: Sequence[str] = (),
        api_prefixes: Sequence[str] = ("/api/*",),
        login_url: str | None = None,
        config: Settings | None = None,
    ) -> None:
        owner = type(self).__name__
        if bearer is None:
            bearer = token_loader is not None
        if bearer and token_loader is None:
            raise ImproperlyConfigured(
                f"{owner}: bearer is true but there is no token_loader to look tokens up. "
                "Provide a dependency named 'token_loader' (a function token_loader(token: "
                "str) returning the user or None), or drop bearer."
            )
        if user_loader is None and not bearer:
            raise ImproperlyConfigured(
                f"{owner} needs a user_loader: a function user_loader(user_id: str) that "
                "returns the user with that id, or None. Provide it by name, one of: "
                "DEPENDENCIES = {'user_loader': 'myapp.auth.make_user_loader'} in settings "
                "(a factory returning the function; its own parameters, such as db_session, "
                "are injected); create_app(settings, dependencies={'user_loader': load_user}); "
                "app.provide('user_loader', load_user) before app.use(AuthenticationMiddleware); "
                "or params {'user_loader': 'myapp.auth.load_user'}. For bearer tokens only, "
                "provide a token_loader instead."
            )
        if not session_key:
            raise ImproperlyConfigured(f"{owner}: session_key must not be empty.")
        #: Loads the session's user; ``None`` when only bearer tokens are accepted.
        self.user_loader = _function(owner, user_loader, _USER_LOADER, "user_loader")
        #: Loads a bearer token's user; ``None`` when bearer tokens are not accepted.
        self.token_loader = (
            _function(owner, token_loader, _TOKEN_LOADER, "token_loader") if bearer else None
        )
        self.session_key = session_key
        self._needs_session = f"{owner} reads the user from request.session"
        self._state = AuthState(self.user_loader, session_key)
        if login_url is None:
            login_url = "/login" if config is None else config.LOGIN_URL
        self.login_url = _check_login_url(login_url, owner)
        # A login page under a protected path must stay reachable, or nobody can log in.
        parts = urlsplit(login_url)
        self._login_path = None if parts.netloc else parts.path
        self._login_separator = "&" if parts.query else "?"
        self._protected = compile_option_paths(
            protected_paths, f"{owner}: protected_paths", bare_was_prefix=True
        )
        self._api = compile_option_paths(
            api_prefixes, f"{owner}: api_prefixes", bare_was_prefix=True
        )
        challenges = []
        if self.token_loader is not None:
            challenges.append("Bearer")
        if self.user_loader is not None:
            # No registered scheme names a login form; this is the Cookie draft's
            # (draft-broyer-http-cookie-auth), which at least says where to log in.
            challenges.append(f"Cookie form-action={quote_header_value(login_url)}")
        self._challenge = ", ".join(challenges)

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        environ = request.environ
        environ[ENVIRON_KEY] = self._state  # for login() and logout()
        if self.token_loader is not None and "HTTP_AUTHORIZATION" in environ:
            credentials = request.authorization
            if credentials is not None and credentials.type == "bearer":
                return self._authenticate_bearer(request, credentials.token)
            # Another scheme (Basic...) is not ours: fall back to the session.
        protected = request.path in self._protected
        if self.user_loader is None:
            user: Any = ANONYMOUS
        else:
            session = require_session(request, self._needs_session)
            if not protected:
                # No reference to the request in the loader: no reference cycle.
                request.defer("user", partial(self._session_user, session))
                return None
            user = self._session_user(session)
        request.user = user
        if protected and isinstance(user, AnonymousUser) and not self._is_login_page(request):
            return self._login_required(request)
        return None

    def process_exception(self, request: Request, exc: Exception) -> WerkzeugResponse | None:
        if isinstance(exc, LoginRequired):
            return self._login_required(request)
        return None

    def _authenticate_bearer(self, request: Request, token: str | None) -> WerkzeugResponse | None:
        assert self.token_loader is not None  # only called when bearer tokens are on
        if not token or not BEARER_TOKEN.fullmatch(token):
            return _unauthorized(
                "The bearer token is malformed.", _bearer_error("The access token is malformed.")
            )
        user = self.token_loader(token)
        if user is None:
            return _unauthorized(
                "The bearer token is not valid.",
                _bearer_error("The access token is unknown, expired or revoked."),
            )
        request.user = user
        return None

    def _session_user(self, session: Any) -> Any:
        user_id = session.get(self.session_key)
        if user_id is None:
            return ANONYMOUS
        assert self.user_loader is not None  # only called with a user_loader
        user = self.user_loader(user_id) if isinstance(user_id, str) else None
        if user is None:
            # The user was deleted (or disabled): forget the id, so the next
            # requests neither ask the user store again nor count as logged in.
            del session[self.session_key]
            return ANONYMOUS
        return user

    def _is_login_page(self, request: Request) -> bool:
        return request.script_root + request.path == self._login_path

    def _login_required(self, request: Request) -> WerkzeugResponse:
        """A 401 for API clients; for browsers, a redirect to the login page."""
        if self._wants_json(request):
            return _unauthorized("Authentication is required.", self._challenge)
        if request.method not in ("GET", "HEAD"):
            # After login a browser can only GET the page it was on, so a form's
            # action is no place to come back to: 303 (then GET) without next.
            return redirect(self.login_url, 303, Response)
        return redirect(
            f"{self.login_url}{self._login_separator}{urlencode({'next': _next_path(request)})}",
            302,
            Response,
        )

    def _wants_json(self, request: Request) -> bool:
        environ = request.environ
        if "HTTP_X_REQUESTED_WITH" in environ or "HTTP_AUTHORIZATION" in environ:
            return True  # a script, or a client sending credentials itself: not a page view
        if request.path in self._api:
            return True
        return request.accept_mimetypes.best_match(_PAGE_OR_JSON) == "application/json"


def _next_path(request: Request) -> str:
    # One leading slash: "//evil.example" must not become a next= to another site.
    return "/" + request_target(request).lstrip("/")


def _unauthorized(detail: str, challenge: str) -> Response:
    """A 401 as problem details; a 401 must say how to authenticate (RFC 9110)."""
    return problem_response(401, detail, {"WWW-Authenticate": challenge})


def _bearer_error(description: str) -> str:
    # RFC 6750 section 3: a rejected token is "invalid_token", whatever the reason.
    return f'Bearer error="invalid_token", error_description="{description}"'


def _function(
    owner: str, value: Loader | str | None, kind: FunctionOrPath, name: str
) -> Loader | None:
    """The loader itself: ``params`` already imported a dotted path; a value given in
    Python (a path, or a dependency) is checked the same way here."""
    return None if value is None else kind.resolve(value, f"{owner}: {name}")


def _check_login_url(url: str, owner: str) -> str:
    if url.startswith("/") and not url.startswith("//"):
        return url
    if urlsplit(url).scheme in ("http", "https"):
        return url
    raise ImproperlyConfigured(
        f"{owner}: login_url (or the LOGIN_URL setting) must be a path starting with "
        f"one '/', like '/login', or an http(s) URL; got {url!r}."
    )
