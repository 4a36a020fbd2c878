"""Shared fixtures: hermetic environment, and apps served through werkzeug's linter."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lback_mw import App
from lback_mw.testing import Client, make_app

from .databases import fresh_database, postgresql_cluster
from .redis_servers import RedisProcesses, SentinelSet, start_cluster, start_sentinel_set
from .serving import free_port


class _FormatEveryRecord(logging.Handler):
    """Formats each record fully (message, arguments, traceback) and drops it.

    ``emit`` does not catch: a log call whose arguments do not fit its format,
    or whose ``extra`` breaks the formatter, fails the test that made it.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(process)d %(message)s")
        )

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


#: The loggers the project writes to, each with every level on for the whole run.
PROJECT_LOGGERS = ("lback_mw", "example_project")


@pytest.fixture(autouse=True, scope="session")
def _project_logging_on() -> Iterator[None]:
    """Every test runs with the project's loggers at DEBUG, as ``lback-mw run`` has
    ``lback_mw.access`` at INFO: code that runs only when logging is enabled (the
    access log reading ``request.user``, a debug line formatting an object) is then
    exercised by the whole suite, not only by the tests about logging (issue 8).

    Records still propagate to pytest's capture (shown for failing tests only);
    nothing is printed.
    """
    handler = _FormatEveryRecord()
    saved = []
    for name in PROJECT_LOGGERS:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level))
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
    yield
    for logger, level in saved:
        logger.removeHandler(handler)
        logger.setLevel(level)


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


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``redis-server`` on 127.0.0.1 for the whole test session; yields its URL base.

    Skips with the reason when the binary is missing (fails under ``CI=true``: CI
    installs it). Persistence is off, and the server stops with the session.
    """
    servers = RedisProcesses(tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{servers.start()}"
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A 3-master Redis Cluster on 127.0.0.1 for the session; yields its URL."""
    servers = RedisProcesses(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield start_cluster(servers)
    finally:
        servers.stop()


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelSet]:
    """A master, a replica and a Sentinel on 127.0.0.1 for the session."""
    servers = RedisProcesses(tmp_path_factory.mktemp("redis-sentinel"))
    try:
        yield start_sentinel_set(servers)
    finally:
        servers.stop()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """A URL to an empty Redis database (db 0 is flushed before each test)."""
    import redis

    url = f"{redis_server}/0"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 for the whole test session; yields
    the SQLAlchemy URL (``postgresql+psycopg://``) of its ``postgres`` database.

    Skips with the reason when PostgreSQL is not installed (fails under ``CI=true``).
    Tests take a database of their own from ``postgresql_database``.
    """
    with postgresql_cluster(free_port()) as url:
        yield url


@pytest.fixture
def postgresql_database(postgresql_url: str) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped after the test."""
    with fresh_database(postgresql_url) as url:
        yield url


@pytest.fixture
def sqlite_database(tmp_path: Path) -> str:
    """The URL of a SQLite file of the test's own (created on first connection)."""
    return f"sqlite:///{tmp_path / 'test.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each database a test must pass on: a SQLite file, and a PostgreSQL database."""
    return str(request.getfixturevalue(f"{request.param}_database"))
