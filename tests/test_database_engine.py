"""The engines built from ``DATABASE_URL`` and backend URLs survive a connection the
server closed while it sat in the pool (issue 8 item 19)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text

from lback_mw import App, Request
from lback_mw.backends import open_backend
from lback_mw.database import session_factory
from lback_mw.testing import Client


@pytest.fixture
def url(database_url: str) -> str:
    """A SQLite file and a PostgreSQL database (``database_url`` in tests/conftest.py)."""
    return database_url


def test_every_engine_pings_a_connection_before_using_it(url: str) -> None:
    engine: Engine = session_factory(url).kw["bind"]
    backend = open_backend(url, purpose="sessions")
    try:
        assert engine.pool._pre_ping
        assert backend._engine.pool._pre_ping  # type: ignore[attr-defined]
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT 1")) == 1
    finally:
        engine.dispose()
        backend.close()


@pytest.fixture
def app(app_factory: Callable[..., App], url: str) -> App:
    app = app_factory(
        DATABASE_URL=url, MIDDLEWARES=["lback_mw.middlewares.SQLAlchemySessionMiddleware"]
    )
    backend_pid = "SELECT pg_backend_pid()" if url.startswith("postgresql") else "SELECT 0"

    @app.route("/pid")
    def pid(request: Request) -> str:
        return str(request.db.scalar(text(backend_pid)))

    return app


def test_a_connection_killed_by_the_server_does_not_fail_the_next_request(
    app: App, url: str
) -> None:
    client = Client(app, lint=True)
    first = client.get("/pid")
    assert first.status_code == 200
    if url.startswith("postgresql"):
        # The pooled connection dies server-side, as in a restart while idle.
        engine = session_factory(url).kw["bind"]
        with engine.connect() as admin:
            assert admin.scalar(text(f"SELECT pg_terminate_backend({first.text})"))
        engine.dispose()
    second = client.get("/pid")
    assert second.status_code == 200, second.text
