"""The ``LOGGING`` setting, and the default the commands install when it is unset.

Django's convention: ``LOGGING`` is a :func:`logging.config.dictConfig` mapping,
applied by :func:`~lback_mw.create_app`, so every way of serving the app (``lback-mw
run``, each ``lback-mw serve`` worker, plain ``gunicorn myproject.wsgi:app``, a test)
logs the same way. Library code never installs a handler by itself: only
:func:`install_default_logging`, which ``run`` and ``serve`` call, does, and only
while nothing else configured logging. ``LOGGING_CONFIG = False`` turns both off.

Not named ``logging.py``: inside the package that would shadow the standard module.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .exceptions import ImproperlyConfigured
from .settings import Settings

#: What ``lback-mw run`` and ``serve`` use when ``LOGGING`` is unset: the access log
#: (a full line of its own, so the bare message) and lback_mw's other records
#: (errors with their tracebacks) on stderr at INFO; everything else at WARNING.
DEFAULT_LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "message": {"format": "%(message)s"},
        "record": {"format": "[%(asctime)s] %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "access": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "message",
        },
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "record",
        },
    },
    "loggers": {
        "lback_mw.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "lback_mw": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}

#: The last mapping applied in this process, as canonical JSON. Building a second
#: app with the same ``LOGGING`` (a test, serve's check before the workers start)
#: must not rebuild the handlers: dictConfig closes the old ones, file handles too.
_applied: str | None = None


def configure_logging(settings: Settings) -> None:
    """Apply ``settings.LOGGING`` unless it is unset, opted out, or applied already."""
    if settings.LOGGING is None or not settings.LOGGING_CONFIG:
        return
    # dictConfig's own default (True) would silence every logger that exists
    # already, lback_mw.errors and its 500 tracebacks included: say so to get it.
    _apply({"disable_existing_loggers": False, **settings.LOGGING}, "LOGGING")


def install_default_logging(settings: Settings) -> None:
    """:data:`DEFAULT_LOGGING`, for the commands, when the project configured nothing:
    no ``LOGGING``, no opt-out, and no handler on the root or ``lback_mw`` logger
    (a ``wsgi.py`` that called ``logging.basicConfig``)."""
    if settings.LOGGING is not None or not settings.LOGGING_CONFIG:
        return
    if logging.getLogger().handlers or logging.getLogger("lback_mw").handlers:
        return
    _apply(DEFAULT_LOGGING, "the default logging")


def _apply(config: dict[str, Any], name: str) -> None:
    global _applied
    key = json.dumps(config, sort_keys=True, default=repr)
    if key == _applied:
        return
    # PERF: imported only to apply a mapping. logging.config brings logging.handlers,
    # pickle and queue: 3 ms and 0.9 MB of RSS of every start-up without LOGGING.
    from logging.config import dictConfig

    try:
        dictConfig(config)
    except (ValueError, TypeError, AttributeError, ImportError) as exc:
        # dictConfig names the part that failed ("Unable to configure handler 'file'").
        raise ImproperlyConfigured(
            f"{name} is not a valid logging.config.dictConfig mapping: {exc}"
            f"{_cause(exc)}. See https://docs.python.org/3/library/logging.config.html"
            "#logging-config-dictschema"
        ) from exc
    _applied = key


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__
    return f" ({type(cause).__name__}: {cause})" if cause is not None else ""
