"""Shared fixtures: hermetic environment, and apps served through werkzeug's linter."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lback_mw import App
from lback_mw.testing import Client, make_app


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own LBACK_* variables out of every test."""
    for name in list(os.environ):
        if name.startswith("LBACK_"):
            monkeypatch.delenv(name)


@pytest.fixture
def app_factory() -> Iterator[Callable[..., App]]:
    """``app_factory(MIDDLEWARES=[...])``: test apps, closed after the test."""
    apps: list[App] = []

    def build(settings: dict[str, Any] | None = None, /, **overrides: Any) -> App:
        app = make_app(settings, **overrides)  # dependencies= passes through
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.close()


@pytest.fixture
def client_for() -> Callable[[App], Client]:
    """A linted client: every request is checked against the WSGI spec."""
    return lambda app: Client(app, lint=True)
