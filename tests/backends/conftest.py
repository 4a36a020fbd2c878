"""Backends under test, each with a way to move its clock forward."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from lback_mw.backends import open_backend

from ..redis_servers import SentinelSet, flush_cluster
from .support import FakeClock, Store, unused_port


def memory_store(purpose: str = "rate limits") -> Store:
    clock = FakeClock()
    backend = open_backend("memory://", purpose=purpose)
    backend.clock = clock  # type: ignore[union-attr]
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


def redis_url_for(request: pytest.FixtureRequest, kind: str) -> str:
    """An empty Redis of ``kind``: one server, a Cluster or a Sentinel-watched master."""
    if kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    if kind == "cluster":
        url = request.getfixturevalue("redis_cluster")
        flush_cluster(url)
        return url
    sentinels: SentinelSet = request.getfixturevalue("redis_sentinel")
    sentinels.servers.client(sentinels.current_master()).flushall()
    return sentinels.url()


REDIS_KINDS = ["redis", "cluster", "sentinel"]


@pytest.fixture(params=["memory", *REDIS_KINDS])
def limiter(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each backend that rate-limits, so one test checks that all agree."""
    if request.param == "memory":
        store = memory_store()
    else:
        store = redis_store(redis_url_for(request, request.param))
    yield store
    store.backend.close()


@pytest.fixture(params=["memory", *REDIS_KINDS, "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """Each backend that stores sessions: memory, Redis (one server, Cluster,
    Sentinel), and the database backend on SQLite and on PostgreSQL."""
    if request.param == "memory":
        result = memory_store("sessions")
    elif request.param in REDIS_KINDS:
        result = redis_store(redis_url_for(request, request.param), "sessions")
    else:
        result = database_store(request.getfixturevalue(f"{request.param}_database"))
    yield result
    result.backend.close()


@pytest.fixture
def closed_port() -> int:
    return unused_port()
