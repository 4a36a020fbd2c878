"""Backends under test, each with a way to move its clock forward."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lback_mw.backends import open_backend

from .support import FakeClock, Store, unused_port


def memory_store(purpose: str = "rate limits") -> Store:
    clock = FakeClock()
    backend = open_backend("memory://", purpose=purpose)
    backend.clock = clock  # type: ignore[attr-defined]
    return Store(backend, clock.advance)


def redis_store(url: str, purpose: str = "rate limits") -> Store:
    # Redis keeps the time itself: tests that need time to pass really wait,
    # so they use windows of a few tenths of a second.
    return Store(open_backend(url, purpose=purpose), time.sleep)


def database_store(url: str) -> Store:
    clock = FakeClock()
    backend = open_backend(url, purpose="sessions")
    backend.clock = clock  # type: ignore[attr-defined]
    return Store(backend, clock.advance)


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each backend that rate-limits, so one test checks that both agree."""
    if request.param == "memory":
        store = memory_store()
    else:
        store = redis_store(request.getfixturevalue("redis_url"))
    yield store
    store.backend.close()


@pytest.fixture(params=["memory", "redis", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each backend that stores sessions: memory, Redis, and the database backend on
    SQLite and on PostgreSQL."""
    if request.param == "memory":
        result = memory_store("sessions")
    elif request.param == "redis":
        result = redis_store(request.getfixturevalue("redis_url"), "sessions")
    else:
        result = database_store(request.getfixturevalue(f"{request.param}_database"))
    yield result
    result.backend.close()


@pytest.fixture
def closed_port() -> int:
    return unused_port()
