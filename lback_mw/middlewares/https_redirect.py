"""Send plain-http requests to the same URL over https."""

from __future__ import annotations

from typing import ClassVar

from werkzeug.utils import redirect
from werkzeug.wrappers import Response as WerkzeugResponse

from ..exceptions import ImproperlyConfigured
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
    :param exempt_paths: path prefixes served over plain http too, such as a load
        balancer's health check.
    """

    ordering_role: ClassVar[str] = "https_redirect"

    def __init__(self, *, permanent: bool = False, exempt_paths: list[str] | None = None) -> None:
        for path in exempt_paths or ():
            if not path.startswith("/"):
                raise ImproperlyConfigured(
                    f"HTTPSRedirectMiddleware: exempt_paths entry {path!r} does not start "
                    f"with '/'. It is a prefix of request.path, e.g. '/{path.lstrip('/')}'."
                )
        self.status = 308 if permanent else 307
        self.exempt_paths = tuple(exempt_paths or ())

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        if request.is_secure or request.path.startswith(self.exempt_paths):
            return None
        # werkzeug has dropped ":80" from an http request's host; ":443" on plain
        # http is odd but means the default https port all the same.
        host = request.host.removesuffix(":443")
        if not host:  # no usable Host (invalid characters): nowhere to send the client
            return Response("Invalid host header", status=400, mimetype="text/plain")
        return redirect(url_with(request, "https", host), self.status, Response)
