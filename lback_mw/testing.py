"""Test helpers: a client returning lback_mw responses, apps from settings in one line,
and :func:`override_settings` (Django's) for a test that needs other settings."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ._client import Client as Client
from ._client import TestResponse as TestResponse
from .app import App, create_app
from .settings import load_settings

#: Settings every test app starts from; a test overrides any of them.
TEST_SETTINGS: dict[str, Any] = {"SECRET_KEY": "test-secret-key-not-for-production"}


def make_app(
    settings: Any = None,
    /,
    *,
    dependencies: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> App:
    """``make_app(MIDDLEWARES=[...], DEBUG=True)``: an app from settings given inline.

    ``settings`` is a dict (or nothing), which starts from :data:`TEST_SETTINGS` (a
    test ``SECRET_KEY``), or any other source :func:`create_app` takes (a dotted
    module path, a file, a module, a :class:`~lback_mw.Settings`), used as it is.
    The upper-case ``overrides`` replace its values; ``dependencies`` go to
    :func:`create_app`.
    """
    if settings is None or isinstance(settings, Mapping):
        return create_app(
            {**TEST_SETTINGS, **(settings or {}), **overrides}, dependencies=dependencies
        )
    return create_app(load_settings(settings, overrides), dependencies=dependencies)


@contextmanager
def override_settings(
    settings: Any = None,
    /,
    *,
    dependencies: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> Iterator[App]:
    """``with override_settings("myproject.settings", DEBUG=False) as app:``

    Django's ``override_settings`` for an app whose settings are frozen: a new app
    is built from :func:`make_app`'s arguments, and closed when the block ends.
    """
    app = make_app(settings, dependencies=dependencies, **overrides)
    try:
        yield app
    finally:
        app.close()


def make_client(settings: dict[str, Any] | None = None, /, **overrides: Any) -> Client:
    """A linted :class:`Client` over :func:`make_app`."""
    return Client(make_app(settings, **overrides), lint=True)
