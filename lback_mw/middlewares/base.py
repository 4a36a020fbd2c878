"""The middleware base class and the protocol type checkers see.

Rules every built-in follows (docs/development.md, "Writing a built-in"):

* An error a built-in raises names its owner first: ``"<ClassName>: <what is
  wrong>"``, or a sentence with the class as its subject (``"<ClassName> needs a
  user_loader..."``). ``<ClassName>`` is ``type(self).__name__``, read inside the
  method, so a project's ``MyCSRF(CSRFMiddleware)`` is named as itself, the class
  its settings list. Module-level helpers take it as their ``owner: str``
  parameter; no module keeps the name in a constant.
* The same idea has the same parameter name in every built-in (``cookie_*`` for
  a cookie's attributes), and Starlette's name where Starlette has the same
  middleware. A former name, or another framework's name for one of ours, is
  listed in :data:`OTHER_NAMES`: passing it is refused at start-up with the name
  to write, from settings ``params`` and from Python alike.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, NamedTuple, Protocol, Self, runtime_checkable

from werkzeug.wrappers import Response as WerkzeugResponse

from ..exceptions import ImproperlyConfigured
from ..wrappers import Request

#: The four hook names, in the order a request meets them.
HOOK_NAMES = ("process_request", "process_view", "process_response", "process_exception")

#: What ``call_next`` does in a ``dispatch(request, call_next)`` middleware.
CallNext = Callable[[Request], WerkzeugResponse]


@runtime_checkable
class Middleware(Protocol):
    """The hooks of a middleware, for type checkers.

    The loader accepts any class that defines at least one of them.
    """

    def process_request(self, request: Request) -> WerkzeugResponse | None: ...

    def process_view(
        self, request: Request, view: Callable[..., Any], view_kwargs: dict[str, Any]
    ) -> WerkzeugResponse | None: ...

    def process_response(
        self, request: Request, response: WerkzeugResponse
    ) -> WerkzeugResponse: ...

    def process_exception(self, request: Request, exc: Exception) -> WerkzeugResponse | None: ...


class OtherName(NamedTuple):
    """A parameter name a built-in refuses, and the name it has here."""

    #: The parameter to write instead.
    new: str
    #: Where the refused name comes from, completing "parameter 'x' ...":
    #: ``"was renamed to 'y' in 0.1.0"``, ``"is Starlette's name; here it is 'y'"``.
    why: str


def _renamed(new: str, note: str = "") -> OtherName:
    return OtherName(new, f"was renamed to {new!r} in 0.1.0{note}")


def _foreign(new: str, whose: str, note: str = "") -> OtherName:
    return OtherName(new, f"is {whose}; here it is {new!r}{note}")


_COOKIE = " (a cookie attribute is a cookie_* parameter, as in CSRFMiddleware)"
_FALLBACKS = " (after SECRET_KEY_FALLBACKS, the setting it defaults to)"
_STARLETTE = "Starlette's name"

#: Built-in (by dotted path, so this module imports none of them) -> the names it
#: refuses: its own former names, and other frameworks' names for its parameters
#: (Starlette's, and Django's settings without their prefix) where they differ.
#: A subclass refuses them too, unless its own ``__init__`` takes that name.
OTHER_NAMES: Mapping[str, Mapping[str, OtherName]] = {
    "lback_mw.middlewares.session.SessionMiddleware": {
        "max_age": _renamed("cookie_max_age", _COOKIE),
        "path": _renamed("cookie_path", _COOKIE),
        "domain": _renamed("cookie_domain", _COOKIE),
        "secure": _renamed("cookie_secure", _COOKIE),
        "httponly": _renamed("cookie_httponly", _COOKIE),
        "samesite": _renamed("cookie_samesite", _COOKIE),
        "fallback_keys": _renamed("secret_key_fallbacks", _FALLBACKS),
        "session_cookie": _foreign("cookie_name", _STARLETTE),
        "same_site": _foreign("cookie_samesite", _STARLETTE),
        "https_only": _foreign(
            "cookie_secure", _STARLETTE, " (its default, None, sets Secure on https requests)"
        ),
        "cookie_age": _foreign("cookie_max_age", "the name of Django's SESSION_COOKIE_AGE"),
        "save_every_request": _foreign(
            "refresh_each_request", "the name of Django's SESSION_SAVE_EVERY_REQUEST"
        ),
    },
    "lback_mw.middlewares.csrf.CSRFMiddleware": {
        "fallback_keys": _renamed("secret_key_fallbacks", _FALLBACKS),
        "cookie_age": _foreign("cookie_max_age", "the name of Django's CSRF_COOKIE_AGE"),
    },
    "lback_mw.middlewares.cors.CORSMiddleware": {
        "allowed_origins": _foreign(
            "allow_origins", "the name of django-cors-headers' CORS_ALLOWED_ORIGINS"
        ),
        "allow_all_origins": _foreign(
            "allow_origins",
            "the name of django-cors-headers' CORS_ALLOW_ALL_ORIGINS",
            ": write allow_origins=['*']",
        ),
        "allowed_origin_regexes": _foreign(
            "allow_origin_regex",
            "the name of django-cors-headers' CORS_ALLOWED_ORIGIN_REGEXES",
            ", one regular expression (join several with '|')",
        ),
        "preflight_max_age": _foreign(
            "max_age", "the name of django-cors-headers' CORS_PREFLIGHT_MAX_AGE"
        ),
    },
    "lback_mw.middlewares.security.SecurityHeadersMiddleware": {
        "hsts_seconds": _foreign("hsts", "the name of Django's SECURE_HSTS_SECONDS"),
    },
    "lback_mw.middlewares.https_redirect.HTTPSRedirectMiddleware": {
        "redirect_exempt": _foreign(
            "exempt_paths",
            "the name of Django's SECURE_REDIRECT_EXEMPT",
            ", path patterns rather than regular expressions",
        ),
    },
    "lback_mw.middlewares.static.StaticFilesMiddleware": {
        "directory": _foreign(
            "directories", "the name Starlette's StaticFiles gives it", ", a list"
        ),
    },
}


def other_name_error(cls: type, names: Iterable[str]) -> str | None:
    """The error for the first of ``names`` that :data:`OTHER_NAMES` lists for
    ``cls`` or a base, or ``None``; named after ``cls`` (the class being built)."""
    listed: dict[str, OtherName] = {}
    for klass in reversed(cls.__mro__):
        listed.update(OTHER_NAMES.get(f"{klass.__module__}.{klass.__qualname__}", {}))
    refused = [name for name in names if name in listed]
    if not refused:
        return None
    # A subclass may take one of these names itself; then it is its parameter.
    taken = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    for name in refused:
        if name not in taken:
            return f"{cls.__name__}: parameter {name!r} {listed[name].why}."
    return None


class _RefusesOtherNames:
    """Refuses the names in :data:`OTHER_NAMES` when a built-in, or a subclass, is
    built in Python (the loader refuses them in ``params`` before it gets here).

    In ``__new__``, so one check runs before any ``__init__``, not one per built-in;
    on a base below BaseMiddleware, so ``inspect.signature(cls)`` still finds the
    ``__init__`` that ``params`` are bound against, as ``__new__`` above it would hide.
    """

    __slots__ = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        error = other_name_error(cls, kwargs)
        if error is not None:
            raise ImproperlyConfigured(error)
        return super().__new__(cls)


class BaseMiddleware(_RefusesOtherNames):
    """Subclass this and override the hooks you need.

    The hooks here pass everything through; the app skips any hook a subclass
    does not override, so an unused hook costs nothing per request.

    Constructor parameters are filled by name from ``params`` in settings, then
    from the dependency registry (``config``, ``db_session``, ``router``,
    ``template_renderer``, ``logger``, ``app``, and the project's own). A
    subclass without an ``__init__`` of its own takes ``params`` naming the
    attributes it declares (``tag: str = "blue"``), which this ``__init__`` sets
    on the instance; any other key is refused at start-up, so a typo cannot pass
    unnoticed as an attribute nothing reads.
    """

    #: What this middleware is, for ``lback-mw check``'s ordering rules
    #: (``"cors"``, ``"auth"``, ``"security_headers"``, ``"gzip"``...).
    ordering_role: ClassVar[str | None] = None

    def __init__(self, **kwargs: Any) -> None:
        for name, value in kwargs.items():
            setattr(self, name, value)

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        """Runs before the view, in list order; return a response to short-circuit."""
        return None

    def process_view(
        self, request: Request, view: Callable[..., Any], view_kwargs: dict[str, Any]
    ) -> WerkzeugResponse | None:
        """Runs once the route matched and every ``process_request`` completed, in list
        order, just before ``view(request, **view_kwargs)``; a response skips the view.

        Not called on a 404 or 405, nor for the automatic ``OPTIONS`` answer.
        """
        return None

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        """Runs after the view, in reverse list order; return the (new) response."""
        return response

    def process_exception(self, request: Request, exc: Exception) -> WerkzeugResponse | None:
        """Runs, innermost first, when the view or an inner ``process_request`` raised.

        Return a response to handle the exception, or ``None`` to pass it on.
        """
        return None


def overridden_hooks(cls: type) -> tuple[str, ...]:
    """The hook names ``cls`` implements itself, not inherited from BaseMiddleware."""
    return tuple(
        name
        for name in HOOK_NAMES
        if callable(getattr(cls, name, None))
        and getattr(cls, name) is not getattr(BaseMiddleware, name, None)
    )


def declared_attributes(cls: type) -> list[str]:
    """The public data attributes ``cls`` and its bases below BaseMiddleware declare,
    with a value or only an annotation: what ``params`` may set without an ``__init__``."""
    names: dict[str, None] = {}
    for klass in reversed(cls.__mro__[: cls.__mro__.index(BaseMiddleware)]):
        candidates = [*getattr(klass, "__annotations__", {}), *vars(klass)]
        for name in candidates:
            value = vars(klass).get(name)
            if name.startswith("_") or name == "ordering_role" or callable(value):
                continue
            if isinstance(value, classmethod | staticmethod | property):
                continue
            names[name] = None
    return list(names)
