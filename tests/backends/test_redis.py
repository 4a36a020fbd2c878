"""The Redis backend against a real redis-server: TTLs, server time, outages, URL options."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator

import pytest
import redis

from lback_mw import ImproperlyConfigured
from lback_mw.backends import (
    BackendUnavailable,
    RateLimitPolicy,
    RateLimitStore,
    open_backend,
)
from lback_mw.backends.breaker import RETRY_INTERVAL
from lback_mw.backends.redis import RedisBackend
from lback_mw.backends.redis_clients import DEFAULT_TIMEOUT

from .support import FakeClock

ALGORITHMS = ["fixed_window", "sliding_window", "token_bucket"]


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def backend(redis_url: str) -> Iterator[RedisBackend]:
    opened = open_backend(redis_url, purpose="sessions")
    assert isinstance(opened, RedisBackend)
    yield opened
    opened.close()


def test_values_carry_their_ttl_in_redis(backend: RedisBackend, raw: redis.Redis) -> None:
    backend.set("session:a", b"1", ttl=300)
    assert backend.add("session:b", b"2", ttl=30)
    assert 299 <= raw.ttl("lback_mw:session:a") <= 300
    assert 29 <= raw.ttl("lback_mw:session:b") <= 30
    assert backend.replace("session:b", b"3", ttl=600)
    assert 599 <= raw.ttl("lback_mw:session:b") <= 600


def test_key_prefix_from_the_url(redis_url: str, raw: redis.Redis) -> None:
    with open_backend(f"{redis_url}?key_prefix=shop:", purpose="sessions") as backend:
        backend.set("a", b"1", ttl=60)
        assert isinstance(backend, RateLimitStore)  # Redis keeps both
        backend.hit("ip:1.2.3.4", RateLimitPolicy(5, 60, "token_bucket"))
    assert sorted(raw.keys()) == [b"shop:a", b"shop:ratelimit:token_bucket:{ip:1.2.3.4}"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_rate_limit_keys_expire_with_their_window(
    redis_url: str, raw: redis.Redis, algorithm: str
) -> None:
    with open_backend(redis_url, purpose="rate limits") as backend:
        backend.hit("k", RateLimitPolicy(10, 60, algorithm))  # type: ignore[arg-type]
    (key,) = raw.keys()
    # The window, or the time the token bucket takes to refill: never forever.
    assert 0 < raw.pttl(key) <= 60_000


def test_workers_share_one_limit(redis_url: str) -> None:
    """Two backends are two workers: the limit is counted once, across both."""
    policy = RateLimitPolicy(3, 60, "sliding_window")
    with (
        open_backend(redis_url, purpose="rate limits") as first,
        open_backend(redis_url, purpose="rate limits") as second,
    ):
        verdicts = [(first, second)[i % 2].hit("k", policy).allowed for i in range(5)]
    assert verdicts == [True, True, True, False, False]


def test_scripts_read_the_server_clock() -> None:
    from lback_mw.backends import redis as module

    for source in (module._SLIDING_WINDOW, module._TOKEN_BUCKET):
        assert "redis.call('TIME')" in source
    # The fixed window needs no clock: its end is the key's expiry, kept by Redis.
    assert "PEXPIRE" in module._FIXED_WINDOW


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_worker_clocks_do_not_matter(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    """Each hit sees a wildly different process time; the verdicts follow Redis's time."""
    wild = itertools.cycle([0.0, 4e9, 1e3, -86400.0, 2e9])
    monkeypatch.setattr(time, "time", lambda: next(wild))
    policy = RateLimitPolicy(3, 60, algorithm)  # type: ignore[arg-type]
    with open_backend(redis_url, purpose="rate limits") as backend:
        results = [backend.hit("k", policy) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert all(0 < r.reset_after <= 60 for r in results)


def test_a_server_error_is_backend_unavailable(redis_url: str, raw: redis.Redis) -> None:
    raw.set("lback_mw:ratelimit:sliding_window:{k}", b"not a sorted set")
    with (
        open_backend(redis_url, purpose="rate limits") as backend,
        pytest.raises(BackendUnavailable, match="WRONGTYPE"),
    ):
        backend.hit("k", RateLimitPolicy(3, 60, "sliding_window"))


def test_unreachable_redis(closed_port: int) -> None:
    url = f"redis://:hunter2@127.0.0.1:{closed_port}/0"
    policy = RateLimitPolicy(3, 60)
    calls = [
        lambda b: b.get("k"),
        lambda b: b.set("k", b"v", 60),
        lambda b: b.add("k", b"v", 60),
        lambda b: b.replace("k", b"v", 60),
        lambda b: b.delete("k"),
        lambda b: b.hit("k", policy),
    ]
    for call in calls:
        with open_backend(url, purpose="rate limits") as backend:
            with pytest.raises(BackendUnavailable) as info:
                call(backend)
            message = str(info.value)
            assert message.startswith(
                f"The rate limits backend redis://:***@127.0.0.1:{closed_port}/0 is "
                "unavailable: ConnectionError: "
            )
            assert "hunter2" not in message
            assert isinstance(info.value.__cause__, redis.ConnectionError)


@pytest.mark.parametrize(
    ("url", "cause"),
    [
        # redis-py 8.2 raises RedisClusterUnreachableError, a RedisClusterException.
        pytest.param(
            "redis+cluster://127.0.0.1:{port}",
            "RedisCluster(Exception|UnreachableError)",
            id="cluster",
        ),
        pytest.param(
            "redis+sentinel://127.0.0.1:{port}/mymaster", "MasterNotFoundError", id="sentinel"
        ),
    ],
)
def test_unreachable_cluster_or_sentinel(closed_port: int, url: str, cause: str) -> None:
    """No node answers: BackendUnavailable (a 503 or failing open), never the driver's
    own exception (a 500), and the breaker opens as for one server."""
    with open_backend(url.format(port=closed_port), purpose="sessions") as backend:
        with pytest.raises(BackendUnavailable, match=f"is unavailable: {cause}: "):
            backend.get("session:k")
        assert backend.breaker.is_open  # type: ignore[attr-defined]


def test_after_a_failure_calls_fail_fast_for_a_while(closed_port: int) -> None:
    """A dead Redis costs one connection attempt per RETRY_INTERVAL, not one per request."""
    clock = FakeClock()
    with RedisBackend(f"redis://127.0.0.1:{closed_port}/0", purpose="sessions") as b:
        b.breaker.clock = clock
        with pytest.raises(BackendUnavailable) as first:
            b.get("k")
        clock.advance(RETRY_INTERVAL / 2)
        with pytest.raises(BackendUnavailable) as second:
            b.get("k")
        assert second.value.__cause__ is first.value.__cause__  # Redis was not asked
        clock.advance(RETRY_INTERVAL)
        with pytest.raises(BackendUnavailable) as third:
            b.get("k")
        assert third.value.__cause__ is not first.value.__cause__  # asked again


def test_socket_timeouts(redis_url: str) -> None:
    with open_backend(redis_url, purpose="sessions") as backend:
        options = backend._client().connection_pool.connection_kwargs  # type: ignore[attr-defined]
        assert options["socket_timeout"] == options["socket_connect_timeout"] == DEFAULT_TIMEOUT
    url = f"{redis_url}?socket_timeout=0.25&socket_connect_timeout=0.5"
    with open_backend(url, purpose="sessions") as backend:
        options = backend._client().connection_pool.connection_kwargs  # type: ignore[attr-defined]
        assert (options["socket_timeout"], options["socket_connect_timeout"]) == (0.25, 0.5)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        # redis-py's own words; it quotes the name with ` before 5.1 and ' after.
        ("socket_timeout=soon", "Invalid value for [`']socket_timeout[`'] in connection URL"),
        ("sokcet_timeout=1", "sokcet_timeout"),
        ("decode_responses=true", "remove decode_responses"),
    ],
)
def test_bad_url_options_are_refused_when_opened(query: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message) as info:
        open_backend(f"redis://:pw@127.0.0.1:6379/0?{query}", purpose="sessions")
    assert "redis://:***@127.0.0.1:6379/0" in str(info.value)


def test_redis_package_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes "import redis" fail
    monkeypatch.delitem(sys.modules, "lback_mw.backends.redis")
    monkeypatch.delitem(sys.modules, "lback_mw.backends.redis_clients")
    with pytest.raises(ImproperlyConfigured) as info:
        open_backend("redis://127.0.0.1:6379/0", purpose="sessions")
    assert "pip install 'lback_mw[redis]'" in str(info.value)
