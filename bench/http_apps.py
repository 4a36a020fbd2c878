"""The WSGI apps of ``bench/http.py``, loadable by gunicorn as ``bench.http_apps:create("key")``.

Each key builds the same app as the in-process benchmarks (``bench/scenarios.py``), so the
in-process and over-HTTP figures measure one thing two ways.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bench import scenarios

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

#: key -> (path to request, builder). The stacks answer ``/api/items`` over HTTPS.
APPS: dict[str, tuple[str, Callable[[], WSGIApplication]]] = {
    "bare": ("/hello", scenarios.null_wsgi),
    "falcon10": ("/hello", lambda: scenarios.falcon_app(10)),
    "django10": ("/hello", lambda: scenarios.django_noop(10)),
    "lback0": ("/hello", lambda: scenarios.lback(0)),
    "lback10": ("/hello", lambda: scenarios.lback(10)),
    "lback_full": ("/api/items", lambda: scenarios.lback_stack(scenarios.FULL_STACK)),
    "django_stack": ("/api/items", scenarios.django_stack),
}


def create(key: str) -> WSGIApplication:
    """The app named ``key`` in :data:`APPS` (gunicorn's ``module:create("key")`` form)."""
    try:
        _path, build = APPS[key]
    except KeyError:
        raise SystemExit(f"unknown app {key!r}; choose one of {', '.join(APPS)}") from None
    return build()
