"""Scale-out: ``lback-mw serve --workers 4`` with sessions and rate limits in Redis.

Every test runs twice: on one redis-server, and on a 3-master Redis Cluster.

What one process gets right, four must get right together: a rate limit is one
count over every worker, a session written by one worker is read by any other,
and a worker killed mid-load takes no stored session with it. Real gunicorn, real
redis-server, only 127.0.0.1; HTTP with the stdlib, every call with a timeout.
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

from lback_mw import Route


def pid(request):
    return {"pid": os.getpid()}


def limited(request, name):
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


@pytest.fixture(scope="module", params=["redis", "cluster"])
def store_urls(request: pytest.FixtureRequest) -> tuple[str, str]:
    """The session and rate-limit backend URLs: two databases of one server, or one
    Cluster (database 0 only) with the sessions under a prefix of their own."""
    if request.param == "redis":
        base: str = request.getfixturevalue("redis_server")
        return f"{base}/{SESSION_DB}", f"{base}/{RATELIMIT_DB}"
    cluster: str = request.getfixturevalue("redis_cluster")
    return f"{cluster}?key_prefix=sessions:", cluster


def flush(store_urls: tuple[str, str]) -> None:
    for url in store_urls:
        if url.startswith("redis+cluster://"):
            flush_cluster(url.partition("?")[0])
        else:
            with redis.Redis.from_url(url) as client:
                client.flushdb()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, store_urls: tuple[str, str]) -> Path:
    """The project package; only the gunicorn workers import it, never this process."""
    root = tmp_path_factory.mktemp("scaleout")
    package = root / "scaleproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    session_backend, ratelimit_backend = store_urls
    settings = SETTINGS_PY.format(
        padding="x" * 40,
        session_backend=session_backend,
        ratelimit_backend=ratelimit_backend,
        limit=LIMIT,
    )
    (package / "settings.py").write_text(settings)
    (package / "routes.py").write_text(ROUTES_PY)
    return root


@contextmanager
def scaled_out(project: Path, store_urls: tuple[str, str]) -> Iterator[Server]:
    """A 4-worker server over empty stores, all workers booted."""
    flush(store_urls)
    with serve(project, "scaleproj.settings", workers=WORKERS, ready_path="/pid") as running:
        assert len(running.worker_pids(WORKERS)) == WORKERS, running.log()
        yield running


@pytest.fixture(scope="module")
def server(project: Path, store_urls: tuple[str, str]) -> Iterator[Server]:
    """Shared by the tests that leave the workers alone (each uses its own counters)."""
    with scaled_out(project, store_urls) as running:
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


def test_b_a_session_written_by_one_worker_is_read_by_the_others(server: Server) -> None:
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
    project: Path, store_urls: tuple[str, str]
) -> None:
    with scaled_out(project, store_urls) as server:  # its own: a worker dies here
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
