"""Two hosts, one store: two gunicorn masters behind a round-robin client.

"Host" A serves on 127.0.0.1 and host B on 127.0.0.2, each ``lback-mw serve
--workers 2``, sharing one Redis (rate limits) and one PostgreSQL database
(server-side sessions, and the application's rows through ``db_session``). The
client plays the load balancer: it alternates between the hosts, and a host that
stops answering is taken out and the request retried on the other one.
"""

from __future__ import annotations

import itertools
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from .databases import fresh_database
from .serving import HTTPResult, Server, serve
from .test_scale_out import TRANSPORT_ERRORS, body, session_cookie, wait_for

HOSTS = ("127.0.0.1", "127.0.0.2")
WORKERS = 2
LIMIT = 20
RATELIMIT_DB = 13

SETTINGS_PY = """
SECRET_KEY = "two-hosts-test-key-{padding}"
DEBUG = False
ROUTES = "twohosts.routes"
SESSION_BACKEND = {database!r}
DATABASE_URL = {database!r}
RATELIMIT_BACKEND = {ratelimit!r}
MIDDLEWARES = [
    "lback_mw.middlewares.SessionMiddleware",
    {{"class": "lback_mw.middlewares.RateLimitMiddleware",
      "params": {{"rules": [{{"path": "/limited", "limit": "{limit}/minute"}}]}}}},
    "lback_mw.middlewares.SQLAlchemySessionMiddleware",
]
"""

ROUTES_PY = """
from sqlalchemy import text

from lback_mw import Route


def where(request):
    return {"host": request.environ["SERVER_NAME"]}


def write(request):
    request.session["value"] = request.args["value"]
    request.db.execute(
        text("INSERT INTO visits (host, value) VALUES (:host, :value)"),
        {"host": request.environ["SERVER_NAME"], "value": request.args["value"]},
    )
    return where(request)


def read(request):
    return {**where(request), "value": request.session.get("value")}


routes = [
    Route("/where", where),
    Route("/limited", where, endpoint="limited"),
    Route("/session/write", write),
    Route("/session/read", read),
]
"""


class RoundRobin:
    """A load balancer in miniature: alternate hosts; on a transport error, take the
    host out and retry the request on the next one (at most once per host)."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.down: set[str] = set()
        self.failed_over = 0
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def get(self, path: str, headers: dict[str, str] | None = None) -> HTTPResult:
        for _ in self.servers:
            with self._lock:
                alive = [server for server in self.servers if server.url not in self.down]
                server = alive[next(self._turn) % len(alive)]
            try:
                return server.get(path, headers)
            except TRANSPORT_ERRORS:
                with self._lock:
                    self.down.add(server.url)
                    self.failed_over += 1
        raise AssertionError(f"no host answered {path}")


@pytest.fixture(scope="module")
def database(postgresql_url: str) -> Iterator[str]:
    """The module's PostgreSQL database, with the application's table (migrations)."""
    with fresh_database(postgresql_url) as url:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(
                text("CREATE TABLE visits (id serial PRIMARY KEY, host text, value text)")
            )
        engine.dispose()
        yield url


@pytest.fixture
def hosts(tmp_path: Path, redis_server: str, database: str) -> Iterator[list[Server]]:
    """Both hosts, booted, over an empty rate-limit database and an empty table."""
    with redis.Redis.from_url(f"{redis_server}/{RATELIMIT_DB}") as client:
        client.flushdb()
    engine = create_engine(database)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM visits"))
    engine.dispose()
    package = tmp_path / "twohosts"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "routes.py").write_text(ROUTES_PY)
    settings = SETTINGS_PY.format(
        padding="x" * 40,
        database=database,
        ratelimit=f"{redis_server}/{RATELIMIT_DB}",
        limit=LIMIT,
    )
    (package / "settings.py").write_text(settings)
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                serve(
                    tmp_path, "twohosts.settings", workers=WORKERS, host=host, ready_path="/where"
                )
            )
            for host in HOSTS
        ]
        for server in servers:
            assert len(server.worker_pids(WORKERS)) == WORKERS, server.log()
        yield servers


def rows(database: str) -> list[tuple[str, str]]:
    engine = create_engine(database)
    with engine.connect() as connection:
        result = [(h, v) for h, v in connection.execute(text("SELECT host, value FROM visits"))]
    engine.dispose()
    return result


def test_a_rate_limit_is_exact_across_both_hosts(hosts: list[Server]) -> None:
    balancer = RoundRobin(hosts)
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: balancer.get("/limited"), range(3 * LIMIT)))
    assert Counter(response.status for response in responses) == {200: LIMIT, 429: 2 * LIMIT}
    allowed = [response for response in responses if response.status == 200]
    remaining = sorted(int(response.headers["RateLimit-Remaining"]) for response in allowed)
    assert remaining == list(range(LIMIT))  # one count over both hosts
    assert {body(response)["host"] for response in allowed} == set(HOSTS)


def test_a_session_written_on_one_host_is_read_on_the_other(
    hosts: list[Server], database: str
) -> None:
    first, second = hosts
    written = first.get("/session/write?value=from-a")
    assert body(written)["host"] == HOSTS[0]
    read = body(second.get("/session/read", session_cookie(written)))
    assert read == {"host": HOSTS[1], "value": "from-a"}
    assert rows(database) == [(HOSTS[0], "from-a")]  # db_session committed on host A


def test_a_host_stopped_mid_load_loses_no_stored_session(
    hosts: list[Server], database: str
) -> None:
    balancer = RoundRobin(hosts)
    sessions: dict[str, dict[str, str]] = {}
    for n in range(30):
        written = balancer.get(f"/session/write?value=value-{n}")
        sessions[f"value-{n}"] = session_cookie(written)
    assert {host for host, _ in rows(database)} == set(HOSTS)

    stop = threading.Event()
    answered: Counter[object] = Counter()
    lock = threading.Lock()
    load = itertools.cycle(sessions.items())

    def client() -> None:
        while not stop.is_set():
            with lock:
                value, cookie = next(load)
            data = body(balancer.get("/session/read", cookie))  # retried on the other host
            assert data["value"] == value
            with lock:
                answered[data["host"]] += 1

    def served() -> int:
        with lock:
            return sum(answered.values())

    victim = hosts[1]
    with ThreadPoolExecutor(4) as pool:
        clients = [pool.submit(client) for _ in range(4)]
        try:
            wait_for(lambda: served() >= 40, "the load to start")
            # The host dies at once, master and workers, in the middle of requests.
            for pid in [victim.process.pid, *map(int, victim.worker_pids(WORKERS))]:
                os.kill(pid, signal.SIGKILL)
            victim.process.wait(timeout=10)
            before = served()
            wait_for(lambda: served() >= before + 60, "the load to go on without host B")
        finally:
            stop.set()
            for future in clients:
                future.result(timeout=15)

    print(f"\nhost B killed mid-load: {balancer.failed_over} request(s) retried on host A")
    assert balancer.down == {victim.url}
    # Every stored session, wherever it was written, still reads back from host A.
    for value, cookie in sessions.items():
        assert body(hosts[0].get("/session/read", cookie)) == {"host": HOSTS[0], "value": value}
    assert len(rows(database)) == 30  # and every row written through db_session is there
