"""The example project's own middleware: how to write one.

The built-ins (``lback_mw.middlewares``) do the rest of the work in ``settings.py``.
"""

from __future__ import annotations

from werkzeug.wrappers import Response

from lback_mw import BaseMiddleware, MiddlewareNotUsed, Request, Settings


class CustomHeaderMiddleware(BaseMiddleware):
    """Add a header whose value is the project setting ``APP_CUSTOM_HEADER``.

    :param config: the settings, injected by name from the dependency registry.
    :param header: the header name, given in ``params`` in ``settings.py``.
    """

    def __init__(self, config: Settings, header: str = "X-Custom-Header") -> None:
        super().__init__()
        # A project-defined setting, read as an attribute like a built-in one.
        value = config.APP_CUSTOM_HEADER
        if not value:
            # Leaves this middleware out of the chain; `lback-mw middleware` says why.
            raise MiddlewareNotUsed("APP_CUSTOM_HEADER is empty")
        # Computed once here, not on every request.
        self.header = header
        self.value = str(value)

    def process_response(self, request: Request, response: Response) -> Response:
        response.headers[self.header] = self.value
        return response


class CacheControlMiddleware(BaseMiddleware):
    """Set ``Cache-Control`` on responses that do not set it themselves.

    Used per route (``routes.py``): the API answers with one user's notes, which
    no shared cache may keep.

    :param value: the header value, like ``"no-store"``.
    """

    def __init__(self, value: str) -> None:
        super().__init__()
        self.value = value

    def process_response(self, request: Request, response: Response) -> Response:
        response.headers.setdefault("Cache-Control", self.value)
        return response
