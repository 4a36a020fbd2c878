"""How long the app took: ``Server-Timing`` and ``X-Response-Time`` headers, and
``request.duration_ms`` for the middleware outside."""

from __future__ import annotations

import time
from typing import ClassVar

from werkzeug.wrappers import Response as WerkzeugResponse

from ..wrappers import Request
from ._http import append_trusted, header_names, require_token
from .base import BaseMiddleware


class TimingMiddleware(BaseMiddleware):
    """Time the request from this middleware in to this middleware out.

    The time ends when the response leaves the app, before the server sends the
    body: a streamed body's generation is not included.

    :param server_timing: add a ``Server-Timing`` metric (merged with any the
        view set), which browser developer tools show.
    :param server_timing_metric: the metric's name in ``Server-Timing``.
    :param response_time_header: the header that gets ``<ms>ms``; ``None`` for none.
    """

    ordering_role: ClassVar[str] = "timing"

    def __init__(
        self,
        *,
        server_timing: bool = True,
        server_timing_metric: str = "app",
        response_time_header: str | None = "X-Response-Time",
    ) -> None:
        owner = type(self).__name__
        metric = require_token(
            server_timing_metric,
            owner,
            "server_timing_metric",
            what="Server-Timing metric name",
            example="app",
        )
        self._metric_prefix = f"{metric};dur=" if server_timing else None
        self.response_time_header = (
            None
            if response_time_header is None
            else require_token(response_time_header, owner, "response_time_header")
        )
        self._response_time_lower = (response_time_header or "").lower()

    def process_request(self, request: Request) -> None:
        request.start_time = time.perf_counter()

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        duration_ms = request.duration_ms = (time.perf_counter() - request.start_time) * 1000
        value = f"{duration_ms:.3f}"
        headers = response.headers
        present = header_names(headers)
        ours = []
        if self._metric_prefix is not None:
            metric = self._metric_prefix + value
            if "server-timing" in present:  # the view's own metrics stay, ours after them
                metric = ", ".join([*headers.getlist("Server-Timing"), metric])
                del headers["Server-Timing"]
            ours.append(("Server-Timing", metric))
        name = self.response_time_header
        if name is not None:
            if self._response_time_lower in present:
                del headers[name]
            ours.append((name, value + "ms"))
        # The names were checked in __init__, the values are numbers and the
        # view's own Server-Timing values, which werkzeug checked when they were set.
        append_trusted(headers, ours)
        return response
