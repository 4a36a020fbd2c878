"""Send plain-http requests to the same URL over https."""

from __future__ import annotations

from typing import ClassVar

from werkzeug.utils import redirect
from werkzeug.wrappers import Response as WerkzeugResponse

from ..paths import compile_option_paths
from ..wrappers import Request, Response
from ._http import url_with as url_with
from .base import BaseMiddleware


class HTTPSRedirectMiddleware(BaseMiddleware):
    """Redirect every request that did not arrive over https to its https URL.

    "Arrived over https" is ``request.is_secure``: the WSGI server's scheme, or
    the ``X-Forwarded-Proto`` of a proxy only when werkzeug's ``ProxyFix`` in
    ``WSGI_MIDDLEWARES`` vouches for it. A raw ``X-Forwarded-Proto`` header is
    never read here, since any client can send one.

    :param permanent: answer 308 (browsers and caches remember it) instead of 307.
        Both keep the method and body, unlike 301/302, so a form POST survives.
    :param exempt_paths: path patterns (docs/middleware.md, "Path patterns") served
        over plain http too, such as a load balancer's health check: ``/health``
        is that path only, ``/health/*`` it and everything under it.
    """

    ordering_role: ClassVar[str] = "https_redirect"

    def __init__(self, *, permanent: bool = False, exempt_paths: list[str] | None = None) -> None:
        self.status = 308 if permanent else 307
        # A plain string prefix, as before 0.1.0, let "/health" exempt "/healthcheck-admin".
        self.exempt_paths = compile_option_paths(
            exempt_paths or [], f"{type(self).__name__}: exempt_paths"
        )

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        if request.is_secure or request.path in self.exempt_paths:
            return None
        # werkzeug has dropped ":80" from an http request's host; ":443" on plain
        # http is odd but means the default https port all the same.
        host = request.host.removesuffix(":443")
        if not host:  # no usable Host (invalid characters): nowhere to send the client
            return Response("Invalid host header", status=400, mimetype="text/plain")
        return redirect(url_with(request, "https", host), self.status, Response)
