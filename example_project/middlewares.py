"""The example project's own middleware, configured in ``settings.py``."""

from __future__ import annotations

import time

from werkzeug.wrappers import Response

from lback_mw import BaseMiddleware, MiddlewareNotUsed, Request, Settings


class TimerMiddleware(BaseMiddleware):
    """Time each request and report it in an ``X-Response-Time`` header.

    Listed first in ``MIDDLEWARES``, so it is the outermost layer: the time
    covers every other middleware and the view.
    """

    def process_request(self, request: Request) -> Response | None:
        # Middleware may attach attributes to the request for later hooks and views.
        request.start_time = time.perf_counter()
        return None

    def process_response(self, request: Request, response: Response) -> Response:
        elapsed_ms = (time.perf_counter() - request.start_time) * 1000
        response.headers["X-Response-Time"] = f"{elapsed_ms:.2f}ms"
        return response


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
