"""Helpers for backend tests (importable, unlike conftest)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from lback_mw.backends import Backend


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

    backend: Backend
    advance: Callable[[float], None]


def unused_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
