"""What every backend is: the two store interfaces and their one error."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from .._redact import redact_url as redact_url
from .ratelimit import RateLimitPolicy, RateLimitResult


class BackendUnavailable(Exception):
    """The store behind a backend cannot be reached or refused the operation.

    The message names the backend's redacted URL and the cause; the driver's own
    exception is chained as ``__cause__``.
    """


class Backend(ABC):
    """What every store behind a URL shares: the redacted URL, the purpose, the error
    to raise, and ``close()``. Stores are :class:`KeyValueStore` (sessions) and
    :class:`RateLimitStore` (rate limits); the memory and Redis backends are both.

    Every method raises :class:`BackendUnavailable` when the store cannot be
    reached, never the driver's own exception.
    """

    #: The URL the backend was opened with, any password replaced by ``***``.
    url: str
    #: What the backend is for (``"sessions"``, ``"rate limits"``), for messages.
    purpose: str

    def __init__(self, url: str, *, purpose: str) -> None:
        self.url = redact_url(url)
        self.purpose = purpose

    @abstractmethod
    def close(self) -> None:
        """Release connections; the backend is not used afterwards."""

    def unavailable(self, cause: BaseException) -> BackendUnavailable:
        """The error to raise ``from cause`` when the store failed."""
        return BackendUnavailable(
            f"The {self.purpose} backend {self.url} is unavailable: {type(cause).__name__}: {cause}"
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


class KeyValueStore(Backend):
    """A key-value store with TTLs, shared by every worker that opens the same URL:
    what sessions are kept in. Keys are strings, values bytes."""

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """The value stored under ``key``; ``None`` if missing or expired."""

    @abstractmethod
    def set(self, key: str, value: bytes, ttl: int) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any value."""

    @abstractmethod
    def add(self, key: str, value: bytes, ttl: int) -> bool:
        """Store ``value`` only if ``key`` is absent (or expired); ``True`` if stored.

        Atomic across workers, so two of them can never both claim a new session id.
        """

    @abstractmethod
    def replace(self, key: str, value: bytes, ttl: int) -> bool:
        """Store ``value`` only if ``key`` holds a live value; ``True`` if stored.

        Atomic across workers, so a session that another request deleted (a
        logout) is never written back by a request that loaded it before.
        """

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""


class RateLimitStore(Backend):
    """Counters for rate limits, shared by every worker that opens the same URL."""

    @abstractmethod
    def hit(self, key: str, policy: RateLimitPolicy) -> RateLimitResult:
        """Count one request against ``key`` under ``policy``, atomically."""


def check_ttl(ttl: int) -> None:
    """Refuse a TTL that would store a value forever or not at all."""
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
        raise ValueError(f"ttl must be a positive number of seconds (an int), not {ttl!r}")
