"""The middleware base class and the protocol type checkers see.

Rules every built-in follows (docs/development.md, "Writing a built-in"):

* An error a built-in raises names its owner first: ``"<ClassName>: <what is
  wrong>"``, or a sentence with the class as its subject (``"<ClassName> needs a
  user_loader..."``). ``<ClassName>`` is ``type(self).__name__``, read inside the
  method, so a project's ``MyCSRF(CSRFMiddleware)`` is named as itself, the class
  its settings list. Module-level helpers take it as their ``owner: str``
  parameter; no module keeps the name in a constant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

from werkzeug.wrappers import Response as WerkzeugResponse

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


class BaseMiddleware:
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
