"""Middleware classes the loader tests import by dotted path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import BaseMiddleware, ImproperlyConfigured, MiddlewareNotUsed, Request, Settings
from lback_mw.middlewares.base import CallNext


class HeaderMiddleware(BaseMiddleware):
    """Adds ``header: value`` to every response."""

    def __init__(self, header: str, value: str = "on") -> None:
        self.header = header
        self.value = value

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        response.headers[self.header] = self.value
        return response


class LimitMiddleware(BaseMiddleware):
    """Typed parameters, for coercion tests."""

    def __init__(
        self,
        max_requests: int,
        ratio: float = 1.0,
        paths: list[str] | None = None,
        enabled: bool = True,
    ) -> None:
        self.max_requests = max_requests
        self.ratio = ratio
        self.paths = paths or []
        self.enabled = enabled

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        return None


class ConfigMiddleware(BaseMiddleware):
    """Asks for dependencies by name."""

    def __init__(self, config: Settings, router: Any, logger: Any, app: Any) -> None:
        self.config = config
        self.router = router
        self.logger = logger
        self.app = app

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        return None


class NeedsDbMiddleware(BaseMiddleware):
    def __init__(self, db_sesion: Any) -> None:  # misspelt on purpose
        self.db = db_sesion


class KwargsMiddleware(BaseMiddleware):
    """No ``__init__``: params set the attributes it declares, through BaseMiddleware's."""

    greeting: str = "hello"
    audience: str

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        return None


class OwnKwargsMiddleware(BaseMiddleware):
    """Its own ``**kwargs``: it takes any key itself."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        return None


class NotUsed(BaseMiddleware):
    def __init__(self) -> None:
        raise MiddlewareNotUsed("feature flag off")


class SelfCheckingMiddleware(BaseMiddleware):
    def __init__(self, mode: str = "ok") -> None:
        if mode == "bad":
            raise ImproperlyConfigured("mode 'bad' is not supported; use 'ok'")
        if mode == "crash":
            raise ValueError("boom while building")

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        return None


class NoHooks:
    """Not a middleware at all."""


class AsyncHook(BaseMiddleware):
    async def process_request(self, request: Request) -> None:  # type: ignore[override]
        return None


class BothStyles(BaseMiddleware):
    def process_request(self, request: Request) -> WerkzeugResponse | None:
        return None

    def dispatch(self, request: Request, call_next: CallNext) -> WerkzeugResponse:
        return call_next(request)


class WsgiWrapper:
    """A WSGI middleware: belongs in WSGI_MIDDLEWARES."""

    def __init__(self, app: Any, header: str = "X-Wrapped") -> None:
        self.app = app
        self.header = header

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, (self.header, "yes")], exc_info)

        return self.app(environ, start)  # type: ignore[no-any-return]


class PlainHooks:
    """Not a BaseMiddleware subclass, but defines a hook: accepted."""

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        response.headers["X-Plain"] = "1"
        return response


def not_a_class(request: Request, call_next: CallNext) -> WerkzeugResponse:
    return call_next(request)


INSTANCE = PlainHooks()
