"""The database backend on a real SQLite file and a real PostgreSQL database: rows,
expiry, purging, outages."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from lback_mw import ImproperlyConfigured
from lback_mw.backends import (
    BackendUnavailable,
    KeyValueStore,
    RateLimitStore,
    open_backend,
)
from lback_mw.backends.database import PURGE_INTERVAL, DatabaseBackend, store_table

from .support import FakeClock, check_replace_restarts_the_ttl_and_never_revives


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(database_url: str, clock: FakeClock) -> Iterator[DatabaseBackend]:
    opened = DatabaseBackend(database_url, purpose="sessions", clock=clock)
    yield opened
    opened.close()


def rows(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(store_table)).scalar_one())
    finally:
        engine.dispose()


def test_open_backend_picks_it_for_sqlalchemy_urls(database_url: str) -> None:
    with open_backend(database_url, purpose="sessions") as backend:
        assert isinstance(backend, DatabaseBackend)
        backend.set("a", b"1", ttl=60)  # creates the table on first use
        assert backend.get("a") == b"1"
    assert rows(database_url) == 1


def test_values_expire(backend: DatabaseBackend, clock: FakeClock) -> None:
    backend.set("a", b"1", ttl=10)
    clock.advance(9)
    assert backend.get("a") == b"1"
    clock.advance(1)
    assert backend.get("a") is None


def test_add_reclaims_an_expired_row(backend: DatabaseBackend, clock: FakeClock) -> None:
    assert backend.add("a", b"old", ttl=5)
    assert not backend.add("a", b"other", ttl=5)
    clock.advance(5)
    assert backend.add("a", b"new", ttl=5)
    assert backend.get("a") == b"new"


def test_replace_neither_revives_an_expired_row_nor_keeps_its_ttl(
    backend: DatabaseBackend, clock: FakeClock
) -> None:
    check_replace_restarts_the_ttl_and_never_revives(backend, clock)


def test_set_refreshes_the_expiry(backend: DatabaseBackend, clock: FakeClock) -> None:
    backend.set("a", b"1", ttl=10)
    clock.advance(8)
    backend.set("a", b"2", ttl=10)
    clock.advance(8)
    assert backend.get("a") == b"2"


def test_expired_rows_are_purged_by_writes(
    backend: DatabaseBackend, clock: FakeClock, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(5):
        backend.set(f"old:{i}", b"x", ttl=1)
    assert rows(database_url) == 5
    clock.advance(2)
    # The purge runs at most every PURGE_INTERVAL seconds of the worker's monotonic clock.
    monkeypatch.setattr(backend, "_next_purge", 0.0)
    backend.set("fresh", b"x", ttl=60)
    assert rows(database_url) == 1
    assert PURGE_INTERVAL > 0


def test_the_table_survives_a_second_backend(database_url: str) -> None:
    with open_backend(database_url, purpose="sessions") as first:
        first.set("a", b"1", ttl=60)
    with open_backend(database_url, purpose="sessions") as second:
        assert second.get("a") == b"1"


def test_unreachable_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no-such-dir' / 'sessions.db'}"
    with open_backend(url, purpose="sessions") as backend:
        with pytest.raises(BackendUnavailable) as info:
            backend.get("a")
        assert str(info.value).startswith(f"The sessions backend {url} is unavailable: ")
        assert "unable to open database file" in str(info.value)
        with pytest.raises(BackendUnavailable):
            backend.add("a", b"1", ttl=5)


def test_an_unreachable_postgresql_server_is_unavailable_and_hides_the_password(
    closed_port: int,
) -> None:
    url = f"postgresql+psycopg://app:s3cret@127.0.0.1:{closed_port}/app"
    with open_backend(url, purpose="sessions") as backend:
        with pytest.raises(BackendUnavailable) as info:
            backend.get("a")
        assert str(info.value).startswith(
            f"The sessions backend postgresql+psycopg://app:***@127.0.0.1:{closed_port}/app "
            "is unavailable: "
        )
        assert "s3cret" not in str(info.value)
        with pytest.raises(BackendUnavailable):
            backend.add("a", b"1", ttl=5)


def test_a_missing_driver_is_named_without_the_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(ImproperlyConfigured) as info:
        open_backend("postgresql+psycopg://app:s3cret@db.internal/app", purpose="sessions")
    assert str(info.value).startswith(
        "The sessions backend postgresql+psycopg://app:***@db.internal/app needs a database "
        "driver that is not installed: "
    )
    assert "s3cret" not in str(info.value)


def test_no_rate_limits(database_url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="is a database URL; rate limits need"):
        open_backend(database_url, purpose="rate limits")
    with open_backend(database_url, purpose="sessions") as backend:
        # A key-value store only: no hit() that could only raise.
        assert isinstance(backend, KeyValueStore)
        assert not isinstance(backend, RateLimitStore)
        assert not hasattr(backend, "hit")


def test_a_worker_that_loses_the_race_to_create_the_table_carries_on(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers starting together all see no table; every CREATE but one fails."""
    from sqlalchemy.exc import OperationalError

    from lback_mw.backends import database

    real_create_all = database._metadata.create_all

    def another_worker_was_first(bind: Any) -> None:
        real_create_all(bind)  # the other worker's CREATE...
        raise OperationalError("CREATE TABLE lback_mw_store", {}, Exception("already exists"))

    monkeypatch.setattr(database._metadata, "create_all", another_worker_was_first)
    backend = DatabaseBackend(database_url, purpose="sessions")
    try:
        backend.set("k", b"v", 60)  # ...and this one's failed, harmlessly
        assert backend.get("k") == b"v"
    finally:
        backend.close()


def test_a_table_that_cannot_be_created_is_unavailable(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import IntegrityError

    from lback_mw.backends import database

    def refused(bind: Any) -> None:
        raise IntegrityError("CREATE TABLE lback_mw_store", {}, Exception("permission denied"))

    monkeypatch.setattr(database._metadata, "create_all", refused)
    backend = DatabaseBackend(database_url, purpose="sessions")
    try:
        # Not mistaken for "the key exists": add() must not answer False.
        with pytest.raises(BackendUnavailable, match="permission denied"):
            backend.add("k", b"v", 60)
    finally:
        backend.close()
