"""The SQL backend, for sessions: one table in any database SQLAlchemy speaks.

It has no rate limiting: a counter updated on every request is a write per
request on the database, and the algorithms need atomic read-modify-write
operations that SQL dialects spell differently. Redis does that well.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    LargeBinary,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..exceptions import ImproperlyConfigured
from .base import KeyValueStore, check_ttl

#: Expired rows are deleted at most this often (seconds), by whichever write comes.
PURGE_INTERVAL = 60.0

_metadata = MetaData()
#: The one table: expiry in whole seconds of Unix time, which every worker agrees on
#: closely enough for session lifetimes.
store_table = Table(
    "lback_mw_store",
    _metadata,
    Column("key", String(255), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("expires_at", BigInteger, nullable=False, index=True),
)


class DatabaseBackend(KeyValueStore):
    """Rows of ``lback_mw_store`` (key, value, expires_at), created on first use.

    Expired rows are never returned, and are deleted now and then by writes.

    :param clock: Unix time in seconds; tests pass their own.
    """

    def __init__(self, url: str, *, purpose: str, clock: Callable[[], float] = time.time) -> None:
        super().__init__(url, purpose=purpose)
        try:
            # pool_pre_ping replaces connections the server closed while idle.
            self._engine = create_engine(url, pool_pre_ping=True)
        except ImportError as exc:
            raise ImproperlyConfigured(
                f"The {purpose} backend {self.url} needs a database driver that is not "
                f"installed: {exc}"
            ) from exc
        self.clock = clock
        self._table_ready = False
        self._lock = threading.Lock()
        self._next_purge = 0.0

    def get(self, key: str) -> bytes | None:
        query = select(store_table.c.value).where(
            store_table.c.key == key, store_table.c.expires_at > int(self.clock())
        )
        with self._begin() as conn:
            return conn.execute(query).scalar()

    def set(self, key: str, value: bytes, ttl: int) -> None:
        check_ttl(ttl)
        now = int(self.clock())
        values = {"value": value, "expires_at": now + ttl}
        replace = update(store_table).where(store_table.c.key == key).values(values)
        try:
            # Portable upsert: update, and insert when there was no row.
            with self._begin() as conn:
                self._purge(conn, now)
                if conn.execute(replace).rowcount == 0:
                    conn.execute(insert(store_table).values(key=key, **values))
        except IntegrityError:
            # Another worker inserted the row in between; it is there now.
            with self._begin() as conn:
                conn.execute(replace)

    def add(self, key: str, value: bytes, ttl: int) -> bool:
        check_ttl(ttl)
        now = int(self.clock())
        try:
            with self._begin() as conn:
                self._purge(conn, now)
                # An expired row does not hold its key.
                conn.execute(
                    delete(store_table).where(
                        store_table.c.key == key, store_table.c.expires_at <= now
                    )
                )
                conn.execute(insert(store_table).values(key=key, value=value, expires_at=now + ttl))
        except IntegrityError:
            return False
        return True

    def replace(self, key: str, value: bytes, ttl: int) -> bool:
        check_ttl(ttl)
        now = int(self.clock())
        query = (
            update(store_table)
            .where(store_table.c.key == key, store_table.c.expires_at > now)
            .values(value=value, expires_at=now + ttl)
        )
        with self._begin() as conn:
            return bool(conn.execute(query).rowcount)

    def delete(self, key: str) -> None:
        with self._begin() as conn:
            conn.execute(delete(store_table).where(store_table.c.key == key))

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """A transaction; database errors other than key conflicts become BackendUnavailable."""
        try:
            if not self._table_ready:
                with self._lock:
                    if not self._table_ready:
                        self._create_table()
                        self._table_ready = True
            with self._engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise self.unavailable(exc) from exc

    def _create_table(self) -> None:
        try:
            _metadata.create_all(self._engine)  # checks first: never drops
        except SQLAlchemyError as exc:
            # Workers that start together all see no table, and all but one CREATE
            # fails ("already exists"; a duplicate pg_type row on PostgreSQL).
            if not inspect(self._engine).has_table(store_table.name):
                raise self.unavailable(exc) from exc

    def _purge(self, conn: Connection, now: int) -> None:
        tick = time.monotonic()
        if tick < self._next_purge:
            return
        self._next_purge = tick + PURGE_INTERVAL
        conn.execute(delete(store_table).where(store_table.c.expires_at <= now))
