"""The in-process backend: one dict behind a lock, bounded in size.

State lives in one worker process; with several workers each has its own, so
a client's limit is multiplied by the number of workers and a session exists
only in the worker that created it. Use Redis (or a database for sessions) as
soon as there is more than one process.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from .base import KeyValueStore, RateLimitStore, check_ttl
from .ratelimit import ALGORITHM_FUNCTIONS, RateLimitPolicy, RateLimitResult

#: The default bound on stored keys (sessions and rate-limit counters together).
DEFAULT_MAX_ENTRIES = 10_000


class MemoryBackend(KeyValueStore, RateLimitStore):
    """Keys in an ``OrderedDict`` kept in least-recently-used order.

    When ``max_entries`` keys are stored, a new key first sweeps out the
    expired ones (at most once per tenth of ``max_entries`` insertions, so a
    flood of new keys costs O(1) each), then evicts the least recently used.
    A flood of distinct keys (a botnet, forged session ids) can therefore never
    grow memory past the bound; it can only push out older entries.

    :param clock: seconds on a clock that never goes back; tests pass their own.
    """

    def __init__(
        self,
        url: str = "memory://",
        *,
        purpose: str,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(url, purpose=purpose)
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries!r}")
        self.max_entries = max_entries
        self.clock = clock
        # key -> [value or rate-limit state, expires_at]
        self._entries: OrderedDict[str, list[Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._sweep_every = max(1, max_entries // 10)
        self._inserts_until_sweep = 0

    def __len__(self) -> int:
        """The number of stored keys, expired ones included until they are swept."""
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._live(key, self.clock())
            value: bytes | None = None if entry is None else entry[0]
            return value

    def set(self, key: str, value: bytes, ttl: int) -> None:
        check_ttl(ttl)
        with self._lock:
            self._store(key, value, self.clock() + ttl)

    def add(self, key: str, value: bytes, ttl: int) -> bool:
        check_ttl(ttl)
        with self._lock:
            now = self.clock()
            if self._live(key, now) is not None:
                return False
            self._store(key, value, now + ttl)
            return True

    def replace(self, key: str, value: bytes, ttl: int) -> bool:
        check_ttl(ttl)
        with self._lock:
            now = self.clock()
            entry = self._live(key, now)
            if entry is None:
                return False
            entry[0], entry[1] = value, now + ttl
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def hit(self, key: str, policy: RateLimitPolicy) -> RateLimitResult:
        algorithm = ALGORITHM_FUNCTIONS[policy.algorithm]
        key = f"ratelimit:{policy.algorithm}:{key}"
        with self._lock:
            now = self.clock()
            entry = self._live(key, now)
            if entry is None:
                state, result, expires_at = algorithm(None, now, policy)
                self._store(key, state, expires_at)
            else:  # _live() has already marked it as just used
                entry[0], result, entry[1] = algorithm(entry[0], now, policy)
        return result

    def close(self) -> None:
        with self._lock:
            self._entries.clear()

    # The helpers below run with the lock held.

    def _live(self, key: str, now: float) -> list[Any] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= now:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: str, value: Any, expires_at: float) -> None:
        entries = self._entries
        if key in entries:
            entries[key] = [value, expires_at]
            entries.move_to_end(key)
            return
        if len(entries) >= self.max_entries:
            self._make_room()
        entries[key] = [value, expires_at]

    def _make_room(self) -> None:
        entries = self._entries
        self._inserts_until_sweep -= 1
        if self._inserts_until_sweep <= 0:
            self._inserts_until_sweep = self._sweep_every
            now = self.clock()
            for key in [key for key, (_, expires_at) in entries.items() if expires_at <= now]:
                del entries[key]
        while len(entries) >= self.max_entries:
            entries.popitem(last=False)
