"""The WSGI apps of ``bench/http.py``, loadable by gunicorn as ``bench.http_apps:create("key")``.

Each key builds the same app as the in-process benchmarks (``bench/scenarios.py``), so the
in-process and over-HTTP figures measure one thing two ways.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from bench import scenarios

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


class HttpApp(NamedTuple):
    """What to request (``path``), how to build the app, and the page visited once
    first (``start``) whose cookies every timed request then sends."""

    path: str
    build: Callable[[], WSGIApplication]
    start: str | None = None


#: The stacks answer ``/api/items`` over HTTPS; the stateful ones ``/page``, with the
#: session and CSRF cookies ``/start`` set.
APPS: dict[str, HttpApp] = {
    "bare": HttpApp("/hello", scenarios.null_wsgi),
    "falcon10": HttpApp("/hello", lambda: scenarios.falcon_app(10)),
    "django10": HttpApp("/hello", lambda: scenarios.django_noop(10)),
    "lback0": HttpApp("/hello", lambda: scenarios.lback(0)),
    "lback10": HttpApp("/hello", lambda: scenarios.lback(10)),
    "lback_http": HttpApp("/api/items", lambda: scenarios.lback_stack(scenarios.FULL_STACK)),
    "django_http": HttpApp("/api/items", scenarios.django_stack),
    "lback_full": HttpApp(
        "/page", lambda: scenarios.lback_stateful(scenarios.FULL_STATEFUL_STACK), "/start"
    ),
    "django_full": HttpApp("/page", scenarios.django_stateful, "/start"),
}


def create(key: str) -> WSGIApplication:
    """The app named ``key`` in :data:`APPS` (gunicorn's ``module:create("key")`` form)."""
    try:
        app = APPS[key]
    except KeyError:
        raise SystemExit(f"unknown app {key!r}; choose one of {', '.join(APPS)}") from None
    return app.build()
