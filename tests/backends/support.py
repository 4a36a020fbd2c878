"""Helpers for backend tests (importable, unlike conftest)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lback_mw.backends import KeyValueStore


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Store:
    """A backend, and ``advance(seconds)``: a fake clock moved, or real time waited."""

    #: A KeyValueStore, a RateLimitStore or both; each test uses what its kind has.
    backend: Any
    advance: Callable[[float], None]


def unused_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_replace_restarts_the_ttl_and_never_revives(
    backend: KeyValueStore, clock: FakeClock
) -> None:
    """``replace`` on a backend whose clock the test moves: the TTL starts again, and
    an expired key stays expired."""
    backend.set("a", b"1", ttl=5)
    clock.advance(4)
    assert backend.replace("a", b"2", ttl=5)
    clock.advance(4)
    assert backend.get("a") == b"2"  # the TTL started again
    clock.advance(1)
    assert not backend.replace("a", b"3", ttl=5)
    assert backend.get("a") is None
