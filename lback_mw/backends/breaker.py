"""One circuit breaker per store server, shared by every backend of a process.

A hung server (``SIGSTOP``, a blackholed network) answers nothing until the
socket timeout; without a breaker every request would wait that long, once per
backend call. The rule, exactly:

* A call that fails to reach the server (connection error, timeout) opens the
  breaker for :data:`RETRY_INTERVAL` seconds.
* While open, every call fails at once with that failure, without trying.
* When the interval has passed, one call (the probe) tries the server; the
  other callers keep failing at once until it returns. Its success closes the
  breaker, its failure opens it for another interval.

Breakers are keyed by the server, not by the backend: the sessions backend on
``redis://cache/1`` and the rate limits on ``redis://cache/0`` reach one server
and share one breaker, so a hung server costs each worker process at most one
timeout per interval, whatever the middleware that meets it first. A forked
child starts with no breakers (the parent's threads and state do not carry over).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

#: After the server could not be reached, calls fail at once for this many
#: seconds before one of them tries again.
RETRY_INTERVAL = 1.0


class CircuitOpen(Exception):
    """Raised by :meth:`Breaker.before_call` while the server is assumed down.

    ``__cause__`` is the failure that opened the breaker.
    """


class Breaker:
    """The state of one server as this process last saw it (thread-safe).

    :param clock: a monotonic clock, replaceable in tests.
    """

    def __init__(
        self, interval: float = RETRY_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._failure: BaseException | None = None
        self._probing = False

    def before_call(self) -> None:
        """Return if the call may try the server; raise :class:`CircuitOpen` if not."""
        # PERF: a closed breaker (the normal case) is one attribute read, no lock.
        if self._failure is None:
            return
        with self._lock:
            failure = self._failure
            if failure is None:
                return
            if self._probing or self.clock() < self._open_until:
                raise CircuitOpen(str(failure)) from failure
            self._probing = True  # this caller is the probe

    def succeeded(self) -> None:
        """The server answered: close the breaker."""
        if self._failure is not None:
            with self._lock:
                self._failure, self._probing = None, False

    def failed(self, failure: BaseException) -> None:
        """The server could not be reached: open the breaker for one interval."""
        with self._lock:
            self._failure, self._probing = failure, False
            self._open_until = self.clock() + self.interval

    @property
    def is_open(self) -> bool:
        """Whether calls currently fail without trying (for tests and health checks)."""
        return self._failure is not None and (self._probing or self.clock() < self._open_until)


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(server: str) -> Breaker:
    """The process's breaker for ``server`` (an identity such as ``redis://host:6379``)."""
    breaker = _breakers.get(server)
    if breaker is None:
        with _breakers_lock:
            breaker = _breakers.setdefault(server, Breaker())
    return breaker


def _forget_after_fork() -> None:
    global _breakers_lock
    _breakers.clear()
    _breakers_lock = threading.Lock()  # it may have been held by a parent's thread


os.register_at_fork(after_in_child=_forget_after_fork)
