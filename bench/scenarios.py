"""Scenario builders: each function returns a WSGI app answering ``GET /hello`` with
:data:`~bench.harness.BODY`.

Each framework gets its own idiomatic no-op middleware, defining both the
request and the response hook so that no framework can skip a layer. Add new
scenarios (for example the full built-in stack against Django's equivalent stack)
as further functions here and list them in a script like
``bench/middleware_overhead.py``.

The full-stack scenarios (:func:`lback_stack`, :func:`django_stack`) answer
``GET /api/items`` with :data:`JSON_BODY`, over HTTPS, from an allowed CORS origin.

This module is also Django's ``ROOT_URLCONF`` (see :data:`urlpatterns`), so it
must stay importable as ``bench.scenarios``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request as WerkzeugRequest
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import BaseMiddleware, Response
from lback_mw import Request as LbackRequest
from lback_mw.testing import make_app

from .harness import BODY

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


# -- the floor: what the harness itself costs ------------------------------------

_NULL_BODY = [BODY.encode()]
_NULL_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def null_wsgi() -> WSGIApplication:
    """A WSGI function with no framework at all: the harness's own cost per request."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", _NULL_HEADERS)
        return _NULL_BODY

    return app


# -- bare werkzeug ---------------------------------------------------------------


def werkzeug_bare() -> WSGIApplication:
    """werkzeug's ``Request`` and ``Response`` and nothing else: no routing, no middleware."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        WerkzeugRequest(environ)  # built, as any framework would, then unused
        return WerkzeugResponse(BODY)(environ, start_response)

    return app


# -- lback_mw ----------------------------------------------------------------------


class NoopMiddleware(BaseMiddleware):
    """Overrides both hooks, so the pipeline cannot skip either of them."""

    def process_request(self, request: LbackRequest) -> WerkzeugResponse | None:
        return None

    def process_response(
        self, request: LbackRequest, response: WerkzeugResponse
    ) -> WerkzeugResponse:
        return response


def lback(
    layers: int,
    middleware: Sequence[Any] | None = None,
    dependencies: Mapping[str, Any] | None = None,
) -> WSGIApplication:
    """lback_mw with ``layers`` no-op middleware (or the given ``MIDDLEWARES`` list),
    and ``dependencies`` for :func:`~lback_mw.create_app`.

    Routes: ``/hello`` (static) and ``/users/<int:id>`` (a converter, so werkzeug's
    matcher runs), both answering :data:`BODY`.
    """
    entries = list(middleware) if middleware is not None else [NoopMiddleware] * layers
    app = make_app(MIDDLEWARES=entries, dependencies=dependencies)

    @app.route("/hello")
    def hello(request: LbackRequest) -> Response:
        return Response(BODY)

    @app.route("/users/<int:id>")
    def user(request: LbackRequest, id: int) -> Response:
        return Response(BODY)

    return app


def lback_routed(scoped: list[str] | None = None, route_layers: int = 0) -> WSGIApplication:
    """lback_mw with 10 no-op layers, one of them path-scoped or on the route.

    :param scoped: the ``paths`` of the first layer; ``["/hello"]`` is decided once
        for the static route, ``["/users/42"]`` left by ``/users/<int:id>`` to each
        request's path.
    :param route_layers: how many of the 10 are the routes' own ``middleware``
        instead of ``MIDDLEWARES`` entries.
    """
    entries: list[Any] = [NoopMiddleware] * (10 - route_layers)
    if scoped is not None:
        entries[0] = {"class": NoopMiddleware, "paths": scoped}
    app = make_app(MIDDLEWARES=entries)
    own = [NoopMiddleware] * route_layers

    @app.route("/hello", middleware=own)
    def hello(request: LbackRequest) -> Response:
        return Response(BODY)

    @app.route("/users/<int:id>", middleware=own)
    def user(request: LbackRequest, id: int) -> Response:
        return Response(BODY)

    return app


# -- the full built-in stack -------------------------------------------------------

#: The small JSON answer of the full-stack scenarios (below gzip's minimum size, as
#: most API answers are: the middleware must decide, not compress).
JSON_DATA = {"items": [{"id": 1, "name": "first"}, {"id": 2, "name": "second"}], "ok": True}
JSON_BODY = json.dumps(JSON_DATA, separators=(",", ":")).encode()
#: The origin the browser sends, allowed by both stacks' CORS configuration.
ORIGIN = "https://app.example.com"
#: The request of the full-stack scenarios: HTTPS (no redirect), CORS, gzip accepted.
STACK_REQUEST = {
    "base_url": "https://localhost",
    "headers": {"Origin": ORIGIN, "Accept-Encoding": "gzip, deflate, br"},
}
HSTS_SECONDS = 31_536_000

#: lback_mw's counterparts of Django's SecurityMiddleware, CommonMiddleware's host
#: check, django-cors-headers and GZipMiddleware, in the recommended order.
EQUIVALENT_STACK: list[Any] = [
    {"class": "lback_mw.middlewares.SecurityHeadersMiddleware", "params": {"hsts": HSTS_SECONDS}},
    "lback_mw.middlewares.TrustedHostMiddleware",
    "lback_mw.middlewares.HTTPSRedirectMiddleware",
    {"class": "lback_mw.middlewares.CORSMiddleware", "params": {"allow_origins": [ORIGIN]}},
    "lback_mw.middlewares.GZipMiddleware",
]

#: Every HTTP built-in, in the order ``lback-mw check`` recommends.
FULL_STACK: list[Any] = [
    "lback_mw.middlewares.MetricsMiddleware",
    "lback_mw.middlewares.RequestIDMiddleware",
    "lback_mw.middlewares.AccessLogMiddleware",
    "lback_mw.middlewares.TimingMiddleware",
    *EQUIVALENT_STACK,
]

#: Django's stack for the same job (the CORS middleware is django-cors-headers).
DJANGO_STACK = [
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.common.CommonMiddleware",
]


def lback_stack(middleware: Sequence[Any]) -> WSGIApplication:
    """lback_mw with ``middleware``, answering ``GET /api/items`` with :data:`JSON_DATA`."""
    app = make_app(MIDDLEWARES=list(middleware), ALLOWED_HOSTS=["localhost"])

    @app.route("/api/items")
    def items(request: LbackRequest) -> dict[str, Any]:
        return JSON_DATA

    return app


def django_stack() -> WSGIApplication:
    """Django with :data:`DJANGO_STACK`, answering ``GET /api/items`` with :data:`JSON_DATA`."""
    return django_app(DJANGO_STACK)


# -- the stateful stack: cookie session, CSRF, authentication --------------------

#: The page of the stateful scenarios reads the session and the user and makes a
#: CSRF token, as a page with a form does; ``/start``, visited once before timing,
#: wrote the session and created the CSRF secret, so the timed requests set no
#: cookie in either framework.
STATE_MIDDLEWARE: list[Any] = [
    "lback_mw.middlewares.SessionMiddleware",
    "lback_mw.middlewares.CSRFMiddleware",
    "lback_mw.middlewares.AuthenticationMiddleware",
]
#: Django's counterparts (below) and their lback_mw equivalents.
EQUIVALENT_STATEFUL_STACK: list[Any] = [*EQUIVALENT_STACK, *STATE_MIDDLEWARE]
#: Every built-in a page like this would use, in the recommended order.
FULL_STATEFUL_STACK: list[Any] = [*FULL_STACK, *STATE_MIDDLEWARE]

#: Django's: the stack above plus its signed-cookie sessions, CSRF and auth.
DJANGO_STATEFUL_STACK = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.gzip.GZipMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]


def _no_user(user_id: str) -> None:
    """The user store of the stateful scenarios: nobody is logged in."""
    return None


def page_data(visits: int, authenticated: bool, token: str) -> dict[str, Any]:
    # The token changes every request (it is masked); its length does not.
    return {"visits": visits, "authenticated": authenticated, "token_length": len(token)}


def lback_stateful(middleware: Sequence[Any]) -> WSGIApplication:
    """lback_mw with ``middleware``: ``/start`` writes the session, ``/page`` reads it."""
    app = make_app(
        MIDDLEWARES=list(middleware),
        ALLOWED_HOSTS=["localhost"],
        SECRET_KEY="bench-secret-key-not-for-production-0123456789",
        dependencies={"user_loader": _no_user},
    )

    @app.route("/start")
    def start(request: LbackRequest) -> dict[str, Any]:
        request.session["visits"] = 1
        request.csrf_token()  # the first form page: the CSRF secret is created
        return {"started": True}

    @app.route("/page")
    def page(request: LbackRequest) -> dict[str, Any]:
        return page_data(
            request.session["visits"], request.user.is_authenticated, request.csrf_token()
        )

    return app


def _django_start(request: Any) -> Any:
    from django.http import JsonResponse
    from django.middleware.csrf import get_token

    request.session["visits"] = 1
    get_token(request)  # the first form page: the CSRF secret is created
    return JsonResponse({"started": True})


def _django_page(request: Any) -> Any:
    from django.http import JsonResponse
    from django.middleware.csrf import get_token

    data = page_data(request.session["visits"], request.user.is_authenticated, get_token(request))
    return JsonResponse(data, json_dumps_params={"separators": (",", ":")})


def django_stateful() -> WSGIApplication:
    """Django with :data:`DJANGO_STATEFUL_STACK` and signed-cookie sessions."""
    return django_app(DJANGO_STATEFUL_STACK)


# -- Falcon ------------------------------------------------------------------------


class FalconNoopMiddleware:
    """Falcon's request and response hooks, doing nothing."""

    def process_request(self, req: Any, resp: Any) -> None:
        return None

    def process_response(self, req: Any, resp: Any, resource: Any, req_succeeded: bool) -> None:
        return None


class FalconHello:
    def on_get(self, req: Any, resp: Any) -> None:
        resp.content_type = "text/html; charset=utf-8"
        resp.text = BODY


def falcon_app(layers: int) -> WSGIApplication:
    """``falcon.App`` with ``layers`` no-op middleware and one resource on ``/hello``."""
    import falcon

    app = falcon.App(middleware=[FalconNoopMiddleware() for _ in range(layers)])
    app.add_route("/hello", FalconHello())
    wsgi: WSGIApplication = app
    return wsgi


# -- Django ------------------------------------------------------------------------

try:
    from django.utils.deprecation import MiddlewareMixin as _MiddlewareMixin
except ImportError:  # pragma: no cover - django is in the "bench" extra
    _MiddlewareMixin = object


class DjangoNoopMiddleware(_MiddlewareMixin):  # type: ignore[misc]
    """Django's classic ``process_request`` / ``process_response`` pair, doing nothing."""

    def process_request(self, request: Any) -> None:
        return None

    def process_response(self, request: Any, response: Any) -> Any:
        return response


def _django_hello(request: Any) -> Any:
    from django.http import HttpResponse

    return HttpResponse(BODY)


def _django_items(request: Any) -> Any:
    from django.http import JsonResponse

    return JsonResponse(JSON_DATA, json_dumps_params={"separators": (",", ":")})


def _django_urlpatterns() -> list[Any]:
    try:
        from django.urls import path
    except ImportError:  # pragma: no cover
        return []
    return [
        path("hello", _django_hello),
        path("api/items", _django_items),
        path("start", _django_start),
        path("page", _django_page),
    ]


#: Django's URLconf (``ROOT_URLCONF = "bench.scenarios"``).
urlpatterns = _django_urlpatterns()

DJANGO_NOOP = f"{__name__}.DjangoNoopMiddleware"


def django_app(middleware: Sequence[str]) -> WSGIApplication:
    """Django's WSGI handler with the given ``MIDDLEWARE`` dotted paths.

    Settings are configured in-process on the first call (no database, no installed
    apps, DEBUG off). Django reads ``MIDDLEWARE`` when the handler is built, so
    later calls may build handlers with other stacks in the same process.
    """
    import django
    from django.conf import settings
    from django.core.wsgi import get_wsgi_application

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="bench-secret-key-not-for-production",
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["localhost", "127.0.0.1"],
            MIDDLEWARE=[],
            # AuthenticationMiddleware imports the auth models; no request queries
            # the (absent) database: the stateful page has no logged-in user.
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
            DATABASES={},
            SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
            # Read only by the full stack's middleware (see DJANGO_STACK).
            SECURE_SSL_REDIRECT=True,
            SECURE_HSTS_SECONDS=HSTS_SECONDS,
            CORS_ALLOWED_ORIGINS=[ORIGIN],
        )
        django.setup()
    settings.MIDDLEWARE = list(middleware)
    wsgi: WSGIApplication = get_wsgi_application()
    return wsgi


def django_noop(layers: int) -> WSGIApplication:
    """Django with ``layers`` no-op ``MiddlewareMixin`` middleware."""
    return django_app([DJANGO_NOOP] * layers)
