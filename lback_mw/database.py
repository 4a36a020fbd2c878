"""The ``db_session`` dependency: a SQLAlchemy session factory on ``DATABASE_URL``."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker

from ._redact import redact_url
from .exceptions import ImproperlyConfigured


def database_url(configured: str | None, base_dir: Path) -> str:
    """``DATABASE_URL``, or a SQLite file in the project directory when unset."""
    return configured or f"sqlite:///{base_dir / 'db.sqlite3'}"


def session_factory(url: str) -> sessionmaker[Session]:
    """A session factory bound to a new engine for ``url``.

    ``pool_pre_ping``: a pooled connection the server closed while it sat idle (a
    database restart, an idle timeout, ``pg_terminate_backend``) is replaced when
    it is checked out, instead of failing the first request of every worker.
    PERF: one more round-trip per checkout (a request checks out once). On the
    shared 2-core test machine, PostgreSQL 15 on loopback: checkout plus
    ``SELECT 1`` 2.8-3.3 ms without the ping, 3.0-4.4 ms with it (noisy); SQLite:
    no difference beyond the noise.
    """
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL {redact_url(url)!r} is not usable: {exc}"
        ) from exc
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL {redact_url(url)!r} needs a database driver that is not installed: {exc}"
        ) from exc
    return sessionmaker(bind=engine)
