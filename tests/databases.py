"""A throw-away PostgreSQL cluster for the test session, and fresh databases on it.

Importable helpers (unlike conftest): the fixtures in ``tests/conftest.py`` and the
module-scoped servers of ``tests/test_scale_out.py`` both use them.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

#: How long the cluster may take to accept connections before the session fails.
START_TIMEOUT = 30.0

_database_numbers = itertools.count(1)


def unavailable(reason: str) -> NoReturn:
    """Skip the test for a missing service, saying why; under ``CI=true`` fail instead:
    CI installs every service, so a skip there is a broken CI, not a missing package."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: nothing may skip in CI)", pytrace=False)
    pytest.skip(reason)


def postgresql_bin_dir() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: on PATH, else Debian's newest
    ``/usr/lib/postgresql/<version>/bin`` (Debian keeps them off PATH)."""
    initdb = shutil.which("initdb")
    if initdb is not None:
        return Path(initdb).parent
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        return None
    newest = max(found, key=lambda path: int(Path(path).parts[-3].split(".")[0]))
    return Path(newest).parent


@contextmanager
def postgresql_cluster(port: int) -> Iterator[str]:
    """initdb a new cluster in a temporary directory, start it on 127.0.0.1:``port``,
    yield the SQLAlchemy URL of its ``postgres`` database, and stop it after.

    PostgreSQL refuses to run as root, so as root every command runs as the
    ``postgres`` user, in a directory that user owns (pytest's own temporary
    directories are private to root). fsync is off: nothing in it has to survive
    a crash.
    """
    bin_dir = postgresql_bin_dir()
    if bin_dir is None:
        unavailable("PostgreSQL is not installed (apt-get install postgresql)")
    as_owner: list[str] = []
    # PERF: in memory (tmpfs) a CREATE DATABASE per test takes 0.1 s, not 1-2 s of
    # copying template1 to a loaded disk (measured on 2 shared cores).
    in_memory = "/dev/shm" if os.path.isdir("/dev/shm") else None
    workdir = Path(tempfile.mkdtemp(prefix="lback-pg-", dir=in_memory))
    if os.geteuid() == 0:
        as_owner = ["runuser", "-u", "postgres", "--"]
        shutil.chown(workdir, "postgres", "postgres")
    data = workdir / "data"
    log = workdir / "server.log"
    try:
        subprocess.run(
            [
                *as_owner,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        server_options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir} -F "
            "-c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        )
        # -W: do not wait here; the poll below waits for connections instead.
        subprocess.run(
            [
                *as_owner,
                str(bin_dir / "pg_ctl"),
                "start",
                "-W",
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                server_options,
            ],
            check=True,
            capture_output=True,
        )
        try:
            url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
            _wait_for_connections(url, log)
            yield url
        finally:
            subprocess.run(
                [*as_owner, str(bin_dir / "pg_ctl"), "stop", "-m", "fast", "-D", str(data)],
                check=False,
                capture_output=True,
                timeout=60,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _libpq(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as psycopg's own connection string."""
    from sqlalchemy import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _wait_for_connections(url: str, log: Path) -> None:
    import psycopg

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            psycopg.connect(_libpq(url), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                server_log = log.read_text(errors="replace") if log.exists() else "(no log)"
                pytest.fail(f"PostgreSQL did not accept connections at {url}:\n{server_log}")
            time.sleep(0.05)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the cluster for one test (or module); yields its URL
    and drops it after, closing whatever connections the test left open."""
    import psycopg
    from sqlalchemy import make_url

    name = f"lback_test_{os.getpid()}_{next(_database_numbers)}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq(server_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
