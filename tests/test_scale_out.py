"""Scale-out: ``lback-mw serve --workers 4`` with rate limits in Redis (one server and
a 3-master Redis Cluster), and sessions in both of those, in a SQLite file and in
PostgreSQL.

What one process gets right, four must get right together: a rate limit is one
count over every worker, a session written by one worker is read by any other,
and a worker killed mid-load takes no stored session with it. Real gunicorn, real
redis-server and PostgreSQL, only 127.0.0.1; HTTP with the stdlib, every call with
a timeout.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TypeVar

import pytest
import redis

from .databases import fresh_database
from .redis_servers import flush_cluster
from .serving import HTTPResult, Server, serve

T = TypeVar("T")

WORKERS = 4
CLIENT_THREADS = 8
LIMIT = 50
#: Redis databases of this module, flushed before each server starts; the
#: ``redis_url`` fixture of other tests flushes database 0 only.
SESSION_DB = 11
RATELIMIT_DB = 12

SETTINGS_PY = """
SECRET_KEY = "scale-out-test-key-{padding}"
DEBUG = False
ROUTES = "scaleproj.routes"
SESSION_BACKEND = {session_backend!r}
RATELIMIT_BACKEND = {ratelimit_backend!r}
MIDDLEWARES = [
    "lback_mw.middlewares.SessionMiddleware",
    {{
        "class": "lback_mw.middlewares.RateLimitMiddleware",
        # Rules only: every other path is unlimited. The token bucket refills one
        # token every 72 s at 50/hour, so within this test it admits exactly 50.
        "params": {{
            "rules": [
                {{"path": "/limited/fixed", "limit": "{limit}/minute"}},
                {{"path": "/limited/sliding", "limit": "{limit}/minute",
                  "algorithm": "sliding_window"}},
                {{"path": "/limited/bucket", "limit": "{limit}/hour",
                  "algorithm": "token_bucket"}},
            ],
        }},
    }},
]
"""

ROUTES_PY = """
import os
import time

from lback_mw import Route


def pid(request):
    return {"pid": os.getpid()}


def limited(request, name):
    # Holds its sync worker 20 ms, as a real view would: while it does, the other
    # workers accept the waiting connections, so the admitted requests spread over
    # them. An instant answer let one worker take all 50 (seen on an idle machine).
    time.sleep(0.02)
    return {"pid": os.getpid()}


def write(request):
    request.session["value"] = request.args["value"]
    return {"pid": os.getpid()}


def read(request):
    return {"pid": os.getpid(), "value": request.session.get("value")}


routes = [
    Route("/pid", pid),
    Route("/limited/<name>", limited),
    Route("/session/write", write),
    Route("/session/read", read),
]
"""

#: What a request that the killed worker had accepted may raise: a reset or a
#: closed connection (``RemoteDisconnected``), possibly wrapped in ``URLError``.
TRANSPORT_ERRORS = (OSError, http.client.HTTPException)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Path:
    """The project package; only the gunicorn workers import it, never this process."""
    root = tmp_path_factory.mktemp("scaleout")
    package = root / "scaleproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    settings = SETTINGS_PY.format(
        padding="x" * 40,
        session_backend=f"{redis_server}/{SESSION_DB}",
        ratelimit_backend=f"{redis_server}/{RATELIMIT_DB}",
        limit=LIMIT,
    )
    (package / "settings.py").write_text(settings)
    (package / "routes.py").write_text(ROUTES_PY)
    return root


@pytest.fixture(scope="module", params=["redis", "cluster"])
def ratelimit_store(request: pytest.FixtureRequest, redis_server: str) -> str:
    """The URL of each Redis form rate limits are tested on: one server, a Cluster."""
    if request.param == "redis":
        return f"{redis_server}/{RATELIMIT_DB}"
    cluster: str = request.getfixturevalue("redis_cluster")
    return cluster


@pytest.fixture(scope="module", params=["redis", "cluster", "sqlite", "postgresql"])
def session_store(
    request: pytest.FixtureRequest, redis_server: str, project: Path
) -> Iterator[str]:
    """The URL of each store sessions can be shared in: Redis (one server, a Cluster),
    and the database backend on a SQLite file and on a PostgreSQL database of this
    module's own."""
    if request.param == "redis":
        yield f"{redis_server}/{SESSION_DB}"
    elif request.param == "cluster":
        yield request.getfixturevalue("redis_cluster")
    elif request.param == "sqlite":
        yield f"sqlite:///{project / 'sessions.sqlite3'}"
    else:
        with fresh_database(request.getfixturevalue("postgresql_url")) as url:
            yield url


def flush(url: str) -> None:
    """Empty a Redis store (the database stores are each the module's own)."""
    if url.startswith("redis+cluster://"):
        flush_cluster(url)
    elif url.startswith("redis://"):
        with redis.Redis.from_url(url) as client:
            client.flushdb()


@contextmanager
def scaled_out(project: Path, ratelimit_store: str, session_store: str) -> Iterator[Server]:
    """A 4-worker server over empty Redis stores, rate limits in ``ratelimit_store`` and
    sessions in ``session_store``, all workers booted."""
    for url in (ratelimit_store, session_store):
        flush(url)
    env = {"LBACK_SESSION_BACKEND": session_store, "LBACK_RATELIMIT_BACKEND": ratelimit_store}
    with serve(
        project, "scaleproj.settings", workers=WORKERS, env=env, ready_path="/pid"
    ) as running:
        assert len(running.worker_pids(WORKERS)) == WORKERS, running.log()
        yield running


@pytest.fixture(scope="module")
def server(project: Path, ratelimit_store: str) -> Iterator[Server]:
    """Shared by the rate-limit tests, which leave the workers alone (each uses its own
    counters); the sessions share the store (under keys of their own)."""
    with scaled_out(project, ratelimit_store, ratelimit_store) as running:
        yield running


@pytest.fixture(scope="module")
def session_server(project: Path, redis_server: str, session_store: str) -> Iterator[Server]:
    """Shared by the session tests that leave the workers alone, once per store."""
    with scaled_out(project, f"{redis_server}/{RATELIMIT_DB}", session_store) as running:
        yield running


def body(response: HTTPResult) -> dict[str, object]:
    assert response.status == 200, (response.status, response.body)
    data: dict[str, object] = json.loads(response.body)
    return data


def session_cookie(response: HTTPResult) -> dict[str, str]:
    """The ``Cookie`` header that sends back the session the response set."""
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        cookies.load(header)
    return {"Cookie": f"session={cookies['session'].value}"}


def read_session(server: Server, cookie: dict[str, str], attempts: int = 3) -> dict[str, object]:
    """``/session/read``, retrying only transport errors (a killed worker's connection)."""
    for attempt in range(attempts):
        try:
            return body(server.get("/session/read", cookie))
        except TRANSPORT_ERRORS:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")


@pytest.mark.parametrize("algorithm", ["fixed", "sliding", "bucket"])
def test_a_rate_limit_is_exact_over_all_workers(server: Server, algorithm: str) -> None:
    """120 concurrent requests from 127.0.0.1, each on a new connection, spread over
    the workers: exactly LIMIT pass, and each pass saw a different remaining count."""

    def hit(_: int) -> HTTPResult:
        return server.get(f"/limited/{algorithm}")

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        responses = list(pool.map(hit, range(120)))

    statuses = Counter(response.status for response in responses)
    assert statuses == {200: LIMIT, 429: 120 - LIMIT}
    allowed = [response for response in responses if response.status == 200]
    # One atomic count: the 50 admitted requests saw 49, 48, ..., 0 remaining, once each.
    remaining = sorted(int(response.headers["RateLimit-Remaining"]) for response in allowed)
    assert remaining == list(range(LIMIT))
    for refused in (response for response in responses if response.status == 429):
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert int(refused.headers["Retry-After"]) >= 1
    pids = {body(response)["pid"] for response in allowed}
    assert len(pids) > 1, "every request went to one worker; the test proved nothing"


def test_b_a_session_written_by_one_worker_is_read_by_the_others(session_server: Server) -> None:
    server = session_server
    written = server.get("/session/write?value=written-once")
    writer = body(written)["pid"]
    cookie = session_cookie(written)
    workers = {int(pid) for pid in server.worker_pids(WORKERS)}

    readers: Counter[object] = Counter()
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        for _ in range(10):  # bounded: at most 10 batches of 16 reads on new connections
            for data in pool.map(lambda _: read_session(server, cookie, attempts=1), range(16)):
                assert data["value"] == "written-once"
                readers[data["pid"]] += 1
            if readers.keys() == workers:
                break
    # Every worker, not only the writer, found the session in Redis.
    assert readers.keys() == workers, f"writer {writer}; reads per worker: {readers}"


def test_c_killing_a_worker_mid_load_loses_no_session(
    project: Path, redis_server: str, session_store: str
) -> None:
    limits = f"{redis_server}/{RATELIMIT_DB}"
    with scaled_out(project, limits, session_store) as server:  # its own: a worker dies
        kill_a_worker_mid_load(server)


def kill_a_worker_mid_load(server: Server) -> None:
    original = {int(pid) for pid in server.worker_pids(WORKERS)}
    sessions: dict[str, dict[str, str]] = {}
    for n in range(30):
        value = f"value-{n}"
        sessions[value] = session_cookie(server.get(f"/session/write?value={value}"))

    killed = threading.Event()  # set once the victim is gone
    stop = threading.Event()
    answered_by: Counter[object] = Counter()
    failed_before_kill: list[str] = []  # values whose request died with the worker
    lock = threading.Lock()
    load = itertools.cycle(sessions.items())

    def served() -> int:
        with lock:
            return sum(answered_by.values())

    def answered(pids: set[int]) -> bool:
        with lock:
            return bool(answered_by.keys() & pids)

    def client() -> None:
        while not stop.is_set():
            with lock:
                value, cookie = next(load)
            after_kill = killed.is_set()
            try:
                data = body(server.get("/session/read", cookie))
            except TRANSPORT_ERRORS:
                # Only a request that may have been in flight on the victim may fail.
                assert not after_kill, f"a request started after the kill failed ({value})"
                with lock:
                    failed_before_kill.append(value)
                continue
            assert data["value"] == value  # never another visitor's, never empty
            with lock:
                answered_by[data["pid"]] += 1

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        clients = [pool.submit(client) for _ in range(CLIENT_THREADS)]
        try:
            wait_for(lambda: served() >= 40, "the load to start")
            with lock:
                busiest_first = sorted(answered_by, key=answered_by.__getitem__, reverse=True)
            victim = kill_first_alive([pid for pid in busiest_first if pid in original])
            wait_for(lambda: not pid_exists(victim), f"worker {victim} to die")
            killed.set()
            replacement = wait_for(
                lambda: {int(pid) for pid in server.worker_pids(WORKERS + 1, 0)} - original,
                "gunicorn to boot a replacement worker",
            )
            wait_for(lambda: answered(replacement), "the replacement worker to answer")
            served_after_kill = served()
            wait_for(lambda: served() >= served_after_kill + 40, "more load after that")
        finally:
            stop.set()
            for future in clients:
                future.result(timeout=15)  # re-raises a client's failed assertion first

    # A sync worker holds one connection at a time; the queue of connections not yet
    # accepted belongs to the shared listening socket and survives the worker.
    assert len(failed_before_kill) <= 1
    log = server.log()
    assert f"Worker (pid:{victim}) was sent SIGKILL" in log
    assert len(server.worker_pids(WORKERS + 1, 0)) >= WORKERS + 1  # the replacement booted
    # A request that died with the worker succeeds when the client retries it...
    for value in failed_before_kill:
        assert read_session(server, sessions[value])["value"] == value
    # ...and no stored session was lost: each of the 30 still reads its own value.
    for value, cookie in sessions.items():
        assert read_session(server, cookie, attempts=1)["value"] == value


def kill_first_alive(pids: list[int]) -> int:
    """SIGKILL the first of ``pids`` still running (on a loaded machine gunicorn may
    have replaced a worker already, for missing its heartbeat); return its pid."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
        return pid
    raise AssertionError(f"none of the workers {pids} is running any more")


def pid_exists(pid: int) -> bool:
    """False once the process is gone (reaped by gunicorn's master) or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone, or going while read
        return False


def wait_for(condition: Callable[[], T], what: str, timeout: float = 10.0) -> T:
    """Poll ``condition`` until it is truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)
    return result
