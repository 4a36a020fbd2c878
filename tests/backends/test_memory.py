"""The memory backend: expiry by its own clock, and a hard bound on stored keys."""

from __future__ import annotations

import pytest

from lback_mw.backends import RateLimitPolicy, open_backend
from lback_mw.backends.memory import DEFAULT_MAX_ENTRIES, MemoryBackend

from .support import FakeClock, check_replace_restarts_the_ttl_and_never_revives


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_values_expire(clock: FakeClock) -> None:
    backend = MemoryBackend(purpose="sessions", clock=clock)
    backend.set("a", b"1", ttl=10)
    clock.advance(9.99)
    assert backend.get("a") == b"1"
    clock.advance(0.01)
    assert backend.get("a") is None
    assert len(backend) == 0  # an expired key found on read is dropped


def test_add_claims_an_expired_key(clock: FakeClock) -> None:
    backend = MemoryBackend(purpose="sessions", clock=clock)
    assert backend.add("a", b"old", ttl=5)
    clock.advance(5)
    assert backend.add("a", b"new", ttl=5)
    assert backend.get("a") == b"new"


def test_replace_neither_revives_an_expired_key_nor_keeps_its_ttl(clock: FakeClock) -> None:
    check_replace_restarts_the_ttl_and_never_revives(
        MemoryBackend(purpose="sessions", clock=clock), clock
    )


def test_a_flood_of_distinct_keys_never_exceeds_max_entries(clock: FakeClock) -> None:
    backend = MemoryBackend(purpose="rate limits", max_entries=100, clock=clock)
    policy = RateLimitPolicy(10, 60)
    for i in range(5000):
        backend.hit(f"ip:10.0.{i // 256}.{i % 256}", policy)
        backend.set(f"session:{i}", b"x" * 10, ttl=3600)
        assert len(backend) <= 100
    assert len(backend) == 100


def test_expired_entries_go_before_live_ones(clock: FakeClock) -> None:
    backend = MemoryBackend(purpose="sessions", max_entries=100, clock=clock)
    for i in range(50):
        backend.set(f"long:{i}", b"x", ttl=3600)
    for i in range(50):  # used more recently than the long ones, but short-lived
        backend.set(f"short:{i}", b"x", ttl=1)
    clock.advance(2)
    for i in range(50):
        backend.set(f"new:{i}", b"x", ttl=3600)
    # Least-recently-used eviction alone would have dropped the long-lived keys.
    assert all(backend.get(f"long:{i}") == b"x" for i in range(50))
    assert all(backend.get(f"new:{i}") == b"x" for i in range(50))


def test_reading_a_key_keeps_it_from_eviction(clock: FakeClock) -> None:
    backend = MemoryBackend(purpose="sessions", max_entries=3, clock=clock)
    for key in ("a", "b", "c"):
        backend.set(key, key.encode(), ttl=60)
    assert backend.get("a") == b"a"  # now "b" is the least recently used
    backend.set("d", b"d", ttl=60)
    assert [backend.get(key) for key in ("a", "b", "c", "d")] == [b"a", None, b"c", b"d"]


def test_rate_limit_state_expires_with_its_window(clock: FakeClock) -> None:
    backend = MemoryBackend(purpose="rate limits", clock=clock)
    policy = RateLimitPolicy(1, 10)
    assert backend.hit("k", policy).allowed
    assert not backend.hit("k", policy).allowed
    clock.advance(10)
    assert backend.hit("k", policy).allowed


def test_url_options() -> None:
    assert open_backend("memory://", purpose="sessions").max_entries == DEFAULT_MAX_ENTRIES  # type: ignore[attr-defined]
    backend = open_backend("memory://?max_entries=5", purpose="sessions")
    assert isinstance(backend, MemoryBackend)
    assert backend.max_entries == 5
    assert backend.url == "memory://?max_entries=5"


def test_close_forgets_everything(clock: FakeClock) -> None:
    with MemoryBackend(purpose="sessions", clock=clock) as backend:
        backend.set("a", b"1", ttl=60)
    assert len(backend) == 0


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries must be at least 1, not 0"):
        MemoryBackend(purpose="sessions", max_entries=0)
