"""The per-server circuit breaker: one timeout per interval for every backend on a server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from lback_mw import App
from lback_mw.backends import BackendUnavailable, RateLimitPolicy, open_backend
from lback_mw.backends.breaker import Breaker, CircuitOpen, breaker_for
from lback_mw.backends.redis import RedisBackend

from ..redis_servers import RedisProcesses, wait_until
from .support import FakeClock

POLICY = RateLimitPolicy(100, 60)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[RedisProcesses]:
    """Servers of this test alone: freezing the session's shared one would stall others."""
    started = RedisProcesses(tmp_path)
    yield started
    started.stop()  # resumes a frozen server first


def test_a_hung_server_costs_one_timeout_shared_by_every_backend_on_it(
    servers: RedisProcesses,
) -> None:
    """Sessions on db 1 and rate limits on db 0 of one server: when it hangs, the first
    call to time out opens the breaker for both, so the other fails without asking."""
    port = servers.start()
    options = "socket_timeout=0.2&socket_connect_timeout=0.2"
    sessions = open_backend(f"redis://127.0.0.1:{port}/1?{options}", purpose="sessions")
    limits = open_backend(f"redis://127.0.0.1:{port}/0?{options}", purpose="rate limits")
    assert isinstance(sessions, RedisBackend)
    assert isinstance(limits, RedisBackend)
    assert sessions.breaker is limits.breaker
    with sessions, limits:
        sessions.set("session:a", b"1", ttl=60)
        assert limits.hit("ip:1", POLICY).allowed

        os.kill(servers.pid(port), signal.SIGSTOP)
        with pytest.raises(BackendUnavailable) as timed_out:
            sessions.get("session:a")
        assert isinstance(timed_out.value.__cause__, redis.TimeoutError)
        for call in (lambda: limits.hit("ip:1", POLICY), lambda: sessions.get("session:a")):
            with pytest.raises(BackendUnavailable) as refused:
                call()
            # The same failure: nobody waited on the hung server a second time.
            assert refused.value.__cause__ is timed_out.value.__cause__

        os.kill(servers.pid(port), signal.SIGCONT)
        wait_until(lambda: not limits.breaker.is_open, "the retry interval to pass")
        assert limits.hit("ip:1", POLICY).remaining == 98
        assert sessions.get("session:a") == b"1"


def test_servers_are_told_apart_databases_are_not(servers: RedisProcesses) -> None:
    first, second = servers.start(), servers.start()
    with (
        open_backend(f"redis://127.0.0.1:{first}/0", purpose="sessions") as a,
        open_backend(f"redis://127.0.0.1:{first}/3?key_prefix=x:", purpose="rate limits") as b,
        open_backend(f"redis://127.0.0.1:{second}/0", purpose="sessions") as c,
    ):
        assert a.breaker is b.breaker  # type: ignore[attr-defined]
        assert a.breaker is not c.breaker  # type: ignore[attr-defined]


def test_one_probe_at_a_time_once_the_interval_passed() -> None:
    clock = FakeClock()
    breaker = Breaker(interval=1.0, clock=clock)
    breaker.before_call()  # closed
    failure = TimeoutError("hung")
    breaker.failed(failure)
    with pytest.raises(CircuitOpen) as info:
        breaker.before_call()
    assert info.value.__cause__ is failure
    clock.advance(1.0)
    breaker.before_call()  # this caller probes...
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # ...and another thread does not wait on the server too
    breaker.failed(TimeoutError("still hung"))
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.advance(1.0)
    breaker.before_call()
    breaker.succeeded()
    assert not breaker.is_open
    breaker.before_call()
    breaker.before_call()


def test_one_breaker_per_server_name() -> None:
    assert breaker_for("redis://192.0.2.1:6379") is breaker_for("redis://192.0.2.1:6379")
    assert breaker_for("redis://192.0.2.1:6379") is not breaker_for("redis://192.0.2.1:6380")


def test_the_session_and_rate_limit_middleware_share_the_breaker(
    app_factory: Callable[..., App], redis_server: str
) -> None:
    app = app_factory(
        DEBUG=True,
        SESSION_BACKEND=f"{redis_server}/1",
        RATELIMIT_BACKEND=f"{redis_server}/2",
        MIDDLEWARES=[
            "lback_mw.middlewares.SessionMiddleware",
            {"class": "lback_mw.middlewares.RateLimitMiddleware", "params": {"limit": "5/minute"}},
        ],
    )
    session, limiter = (layer.instance for layer in app.chain)
    # Two databases of one server: one breaker, so a hang costs one timeout, not two.
    assert session.backend.breaker is limiter.backend.breaker


def test_a_forked_worker_starts_with_no_breaker_open() -> None:
    """gunicorn forks workers from a master that may have met a failure: the child
    decides for itself. Run in a fresh interpreter: pytest's process has threads."""
    script = """
import os
from lback_mw.backends.breaker import breaker_for
breaker_for("redis://192.0.2.1:6379").failed(TimeoutError("hung"))
assert breaker_for("redis://192.0.2.1:6379").is_open
pid = os.fork()
if pid == 0:
    os._exit(0 if not breaker_for("redis://192.0.2.1:6379").is_open else 1)
_, status = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(status))
"""
    result = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
    assert result.returncode == 0
