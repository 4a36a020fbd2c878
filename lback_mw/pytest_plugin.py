"""The pytest plugin shipped with lback_mw (entry point ``pytest11``).

Opt-in, as pytest-django's and pytest-flask's fixtures are: it adds command-line
options, ini keys and a marker, and fixtures that do nothing until a test asks
for them, so a project that never names them is not affected.

- ``lback_app``: the project's app, built from ``--lback-settings``, the
  ``lback_settings`` ini key or ``LBACK_SETTINGS`` (first found), new for every
  test, so ``memory://`` sessions and rate limits start empty each time, and
  closed after it. ``@pytest.mark.lback_settings(DEBUG=False)`` changes settings
  for one test (or a module, a class).
- ``lback_client``: a :class:`lback_mw.testing.Client` over ``lback_app``.
- ``settings_override``: ``with settings_override(DEBUG=False) as app:``, Django's
  ``override_settings`` for a frozen app: another app, built with the changes.
- The database, per test: by default ``DATABASE_URL`` is a new SQLite file in
  the test's ``tmp_path``. With ``--lback-db rollback`` (or ``lback_db =
  rollback``) the settings' own database is used, and everything a test wrote
  is rolled back when it ends: ``db_session`` sessions join an outer transaction
  through savepoints (SQLAlchemy's "join a session into an external transaction").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .app import App
    from .testing import Client

#: The ``--lback-db`` modes.
DATABASE_MODES = ("sqlite", "rollback")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lback_mw", "lback_mw fixtures (lback_app, lback_client)")
    group.addoption(
        "--lback-settings",
        metavar="SOURCE",
        default=None,
        help="Settings of lback_app: a dotted module path, a .py or a .yaml file "
        "(default: the lback_settings ini key, then LBACK_SETTINGS).",
    )
    group.addoption(
        "--lback-db",
        choices=DATABASE_MODES,
        default=None,
        help="sqlite: a new SQLite file per test (default); rollback: the settings' "
        "DATABASE_URL, with each test's writes rolled back.",
    )
    parser.addini("lback_settings", "Settings of lback_app (as --lback-settings).")
    parser.addini("lback_db", "Database per test: sqlite or rollback (as --lback-db).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "lback_settings(**overrides): settings lback_app, lback_client and "
        "settings_override are built with, replacing the project's",
    )


@pytest.fixture
def lback_settings_source(request: pytest.FixtureRequest) -> str:
    """The settings source of ``lback_app``; override this fixture in a conftest.py
    to pick it in code."""
    config = request.config
    source = (
        config.getoption("lback_settings")
        or config.getini("lback_settings")
        or os.environ.get("LBACK_SETTINGS")
    )
    if not source:
        pytest.fail(
            "lback_app, lback_client and settings_override need the project's settings: "
            "run pytest "
            "with --lback-settings myproject.settings, set lback_settings in the pytest "
            "configuration, or set LBACK_SETTINGS.",
            pytrace=False,
        )
    return str(source)


@pytest.fixture
def settings_override(
    request: pytest.FixtureRequest, lback_settings_source: str, tmp_path: Any
) -> Callable[..., AbstractContextManager[App]]:
    """``with settings_override(DEBUG=False) as app:`` another app of the project,
    with these settings changed, closed when the block ends."""
    base = _marker_overrides(request)
    mode = _database_mode(request.config)

    def override(**changes: Any) -> AbstractContextManager[App]:
        return _test_app(lback_settings_source, {**base, **changes}, mode, tmp_path)

    return override


@pytest.fixture
def lback_app(settings_override: Callable[..., AbstractContextManager[App]]) -> Iterator[App]:
    """The project's app for one test (see the module docstring)."""
    with settings_override() as app:
        yield app


@pytest.fixture
def lback_client(lback_app: App) -> Client:
    """A test client over ``lback_app``, checked by werkzeug's WSGI linter."""
    return lback_app.test_client()


def _marker_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    # Outermost first, so a test's own marker wins over its module's.
    for marker in reversed(list(request.node.iter_markers("lback_settings"))):
        if marker.args:
            raise pytest.UsageError(
                "@pytest.mark.lback_settings takes settings by name only, e.g. "
                f"@pytest.mark.lback_settings(DEBUG=False); got {marker.args!r}."
            )
        overrides.update(marker.kwargs)
    return overrides


def _database_mode(config: pytest.Config) -> str:
    mode = config.getoption("lback_db") or config.getini("lback_db") or "sqlite"
    if mode not in DATABASE_MODES:
        raise pytest.UsageError(
            f"lback_db = {mode!r} is not a mode; use one of {', '.join(DATABASE_MODES)}."
        )
    return str(mode)


@contextmanager
def _test_app(source: str, overrides: dict[str, Any], mode: str, tmp_path: Any) -> Iterator[App]:
    from .testing import override_settings

    if mode == "sqlite":
        overrides = {"DATABASE_URL": f"sqlite:///{tmp_path / 'test.sqlite3'}", **overrides}
    with override_settings(source, **overrides) as app:
        if mode == "sqlite":
            yield app
        else:
            with _rolled_back(app):
                yield app


@contextmanager
def _rolled_back(app: App) -> Iterator[None]:
    from sqlalchemy.orm import sessionmaker

    factory = app.dependencies.resolve("db_session")
    engine = factory.kw.get("bind") if isinstance(factory, sessionmaker) else None
    if engine is None:
        raise pytest.UsageError(
            "--lback-db rollback needs the db_session dependency to be a SQLAlchemy "
            f"sessionmaker bound to an engine; this app's is {factory!r}."
        )
    if engine.dialect.name == "sqlite":
        _sqlite_savepoints(engine)
    connection = engine.connect()
    transaction = connection.begin()
    # Every session of the test joins this transaction; its commits release savepoints.
    factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        factory.configure(bind=engine, join_transaction_mode="conservative_savepoint")
        transaction.rollback()
        connection.close()


def _sqlite_savepoints(engine: Any) -> None:
    """SQLAlchemy's recipe for SAVEPOINT on pysqlite, which begins transactions on
    its own and not before a SAVEPOINT, so releasing the first one would commit."""
    from sqlalchemy import event

    engine.dispose()  # connections made before the listeners lack them

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN")
