"""Sessions and rate limits on ``redis+sentinel://`` surviving a failover under load.

A master, a replica and a Sentinel on 127.0.0.1, ``lback-mw serve --workers 2``
in front. While clients read their sessions, the master is switched (``SENTINEL
FAILOVER``) or killed; the test records what the clients saw (every answer and
its time), and checks that nothing stored was lost and no answer was a 500. The
figures are printed (``pytest -s``) and quoted in docs/deployment.md.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .redis_servers import SERVICE, RedisProcesses, SentinelSet, start_sentinel_set, wait_until
from .serving import Server, serve
from .test_scale_out import LIMIT, ROUTES_PY, SETTINGS_PY, TRANSPORT_ERRORS, body, session_cookie

WORKERS = 2
CLIENT_THREADS = 4
#: Bound on the whole switch, from the failover to the first clean run of answers.
SWITCH_TIMEOUT = 30.0


@pytest.fixture
def sentinels(tmp_path: Path) -> Iterator[SentinelSet]:
    """A set of this test alone: its master is about to go."""
    (tmp_path / "redis").mkdir()
    servers = RedisProcesses(tmp_path / "redis")
    try:
        yield start_sentinel_set(servers)
    finally:
        servers.stop()


@pytest.fixture
def server(tmp_path: Path, sentinels: SentinelSet) -> Iterator[Server]:
    package = tmp_path / "scaleproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    settings = SETTINGS_PY.format(
        padding="x" * 40,
        session_backend=sentinels.url(db=1),
        ratelimit_backend=sentinels.url(db=0),
        limit=LIMIT,
    )
    (package / "settings.py").write_text(settings)
    (package / "routes.py").write_text(ROUTES_PY)
    with serve(tmp_path, "scaleproj.settings", workers=WORKERS, ready_path="/pid") as running:
        assert len(running.worker_pids(WORKERS)) == WORKERS, running.log()
        yield running


@pytest.mark.parametrize("how", ["sentinel failover", "master killed"])
def test_sessions_and_limits_survive_a_failover(
    server: Server, sentinels: SentinelSet, how: str
) -> None:
    sessions = {
        f"value-{n}": session_cookie(server.get(f"/session/write?value=value-{n}"))
        for n in range(20)
    }
    for _ in range(10):
        assert server.get("/limited/sliding").status == 200
    old_master, new_master = sentinels.master, sentinels.replica
    # Every write is on the replica before the switch (replication is asynchronous).
    assert sentinels.servers.client(old_master).wait(1, 5000) == 1

    seen: list[tuple[float, str]] = []  # (time since the switch began, outcome)
    lock = threading.Lock()
    load = itertools.cycle(sessions.items())
    switched = threading.Event()
    stop = threading.Event()
    started = time.monotonic()

    def client() -> None:
        while not stop.is_set():
            with lock:
                value, cookie = next(load)
            try:
                response = server.get("/session/read", cookie)
            except TRANSPORT_ERRORS as exc:
                outcome = type(exc).__name__
            else:
                outcome = str(response.status)
                if response.status == 200:
                    assert body(response)["value"] == value  # never another's, never empty
            with lock:
                seen.append((time.monotonic() - started, outcome))

    def clean_since_switch(count: int) -> bool:
        with lock:
            tail = [outcome for _, outcome in seen[-count:]]
        return switched.is_set() and len(tail) == count and set(tail) == {"200"}

    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        clients = [pool.submit(client) for _ in range(CLIENT_THREADS)]
        try:
            wait_until(lambda: len(seen) >= 20, "the load to start")
            started = time.monotonic()
            with lock:
                seen.clear()
            if how == "sentinel failover":
                sentinels.servers.client(sentinels.sentinel).sentinel_failover(SERVICE)
            else:
                sentinels.servers.kill(old_master)
            sentinels.wait_for_master(new_master)
            switched.set()
            wait_until(lambda: clean_since_switch(40), "40 clean answers", SWITCH_TIMEOUT)
        finally:
            stop.set()
            for future in clients:
                future.result(timeout=15)  # re-raises a client's failed assertion

    outcomes = Counter(outcome for _, outcome in seen)
    failures = [moment for moment, outcome in seen if outcome != "200"]
    window = (failures[-1] - failures[0]) if failures else 0.0
    print(
        f"\n{how}: {len(seen)} requests, {dict(outcomes)}; failures between "
        f"{failures[0] if failures else 0:.2f} s and {failures[-1] if failures else 0:.2f} s "
        f"after the switch began ({window:.2f} s)"
    )
    # A store that is switching is a 503 to the client, never a 500 or a reset.
    assert set(outcomes) <= {"200", "503"}, outcomes
    # Nothing stored was lost: every session reads back, the counter went on.
    for value, cookie in sessions.items():
        assert body(server.get("/session/read", cookie))["value"] == value
    after = server.get("/limited/sliding")
    assert after.status == 200
    assert int(after.headers["RateLimit-Remaining"]) == LIMIT - 11
