"""Rate-limit policies and the arithmetic of the three algorithms.

The functions here are pure: they take the stored state and the time, and
return the new state, the verdict and when the state may be forgotten. The
memory backend runs them as they are; the Redis backend runs Lua scripts that
mirror them line for line (``redis.py``), so both backends answer the same
sequence of hits the same way. The tests run one set of cases against both.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

from ..exceptions import did_you_mean

Algorithm = Literal["fixed_window", "sliding_window", "token_bucket"]
#: The algorithm names, as accepted by :class:`RateLimitPolicy`.
ALGORITHMS: tuple[str, ...] = get_args(Algorithm)

#: Period words of a rate string -> seconds.
_UNITS = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
    **dict.fromkeys(("d", "day", "days"), 86400),
}
_UNIT_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
_RATE = re.compile(
    r"\s*(?P<count>\d+)\s*(?:/|per\s)\s*(?P<multiple>\d+(?:\.\d+)?)?\s*(?P<unit>[a-z]+)\s*",
    re.IGNORECASE,
)
_RATE_FORMS = "'100/minute', '10/second', '1000/hour', '5/day' or '100/15 minutes'"


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """At most ``limit`` requests per ``window`` seconds, counted by ``algorithm``."""

    limit: int
    window: float
    algorithm: Algorithm = "fixed_window"

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"the limit must be a whole number >= 1, not {self.limit!r}")
        # Redis keeps time in milliseconds: a shorter window would round to nothing.
        if not isinstance(self.window, int | float) or not 0.001 <= self.window < math.inf:
            raise ValueError(f"the window must be at least 0.001 seconds, not {self.window!r}")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(
                f"unknown algorithm {self.algorithm!r}; use one of "
                f"{', '.join(map(repr, ALGORITHMS))}.{did_you_mean(self.algorithm, ALGORITHMS)}"
            )

    @classmethod
    def parse(cls, rate: str, algorithm: Algorithm = "fixed_window") -> RateLimitPolicy:
        """A policy from a rate such as ``"100/minute"`` or ``"100/15 minutes"``.

        The period is ``second``, ``minute``, ``hour`` or ``day`` (plural and
        ``s``/``sec``, ``m``/``min``, ``h``/``hr``, ``d`` too), optionally preceded
        by a multiple. Raises ``ValueError`` saying what is wrong.
        """
        match = _RATE.fullmatch(rate)
        if match is None:
            raise ValueError(f"{rate!r} is not a rate; write it like {_RATE_FORMS}")
        unit = match["unit"].lower()
        seconds = _UNITS.get(unit)
        if seconds is None:
            names = ("second", "minute", "hour", "day")
            raise ValueError(
                f"{rate!r} has an unknown period {match['unit']!r}; use second, minute, hour "
                f"or day, like {_RATE_FORMS}.{did_you_mean(unit, names)}"
            )
        multiple = float(match["multiple"] or 1)
        if multiple <= 0:
            raise ValueError(f"{rate!r} has a period of zero; write it like {_RATE_FORMS}")
        count = int(match["count"])
        if count < 1:
            raise ValueError(f"{rate!r} allows no request at all; the count must be at least 1")
        return cls(count, multiple * seconds, algorithm)

    def describe(self) -> str:
        """``"100 requests per minute"``, for messages to clients."""
        unit = _UNIT_NAMES.get(int(self.window)) if self.window == int(self.window) else None
        period = unit or f"{self.window:g} seconds"
        noun = "request" if self.limit == 1 else "requests"
        return f"{self.limit} {noun} per {period}"


@dataclass(frozen=True, slots=True)
class RateLimitResult:
    """The verdict on one hit, with what the ``RateLimit-*`` headers report."""

    #: Whether this request may proceed.
    allowed: bool
    #: The policy's limit.
    limit: int
    #: Requests left before the next one is refused.
    remaining: int
    #: Seconds until the full limit is available again (the quota resets).
    reset_after: float
    #: Seconds until one more request would be allowed; ``0`` while ``remaining > 0``.
    retry_after: float


#: One algorithm: (stored state or None, now, policy) -> (new state, verdict, expires_at).
#: ``expires_at`` is when the new state equals no state at all, so it may be dropped.
AlgorithmFunction = Callable[[Any, float, RateLimitPolicy], tuple[Any, RateLimitResult, float]]


def fixed_window(
    state: tuple[int, float] | None, now: float, policy: RateLimitPolicy
) -> tuple[tuple[int, float], RateLimitResult, float]:
    """A counter that starts with the first hit and is dropped ``window`` seconds later.

    State: ``(count, window_end)``. Cheapest, but a client can send up to twice
    the limit around the moment one window ends and the next begins.
    """
    if state is None or now >= state[1]:
        count, end = 0, now + policy.window
    else:
        count, end = state
    count += 1  # Redis INCRs refused hits too; the verdict is the same
    remaining = max(0, policy.limit - count)
    reset_after = end - now
    result = RateLimitResult(
        allowed=count <= policy.limit,
        limit=policy.limit,
        remaining=remaining,
        reset_after=reset_after,
        retry_after=0.0 if remaining else reset_after,
    )
    return (count, end), result, end


def sliding_window(
    state: deque[float] | None, now: float, policy: RateLimitPolicy
) -> tuple[deque[float], RateLimitResult, float]:
    """A log of the allowed hits of the last ``window`` seconds: exact, at any moment.

    State: the hit times, oldest first (mutated in place: it can hold ``limit``
    entries). Refused hits are not logged, so a client that keeps hammering
    gets through again as soon as its oldest hit leaves the window.
    """
    log = deque() if state is None else state
    cutoff = now - policy.window
    while log and log[0] <= cutoff:
        log.popleft()
    allowed = len(log) < policy.limit
    if allowed:
        log.append(now)
    remaining = policy.limit - len(log)
    result = RateLimitResult(
        allowed=allowed,
        limit=policy.limit,
        remaining=remaining,
        reset_after=log[-1] + policy.window - now,
        retry_after=0.0 if remaining else log[0] + policy.window - now,
    )
    return log, result, log[-1] + policy.window


def token_bucket(
    state: tuple[float, float] | None, now: float, policy: RateLimitPolicy
) -> tuple[tuple[float, float], RateLimitResult, float]:
    """A bucket of ``limit`` tokens refilled at ``limit / window`` per second.

    State: ``(tokens, updated_at)``. Allows a burst of ``limit``, then a steady
    rate; a refused hit takes no token.
    """
    rate = policy.limit / policy.window
    tokens, updated_at = (float(policy.limit), now) if state is None else state
    tokens = min(float(policy.limit), tokens + max(0.0, now - updated_at) * rate)
    allowed = tokens >= 1
    if allowed:
        tokens -= 1
    remaining = math.floor(tokens)
    full_after = (policy.limit - tokens) / rate
    result = RateLimitResult(
        allowed=allowed,
        limit=policy.limit,
        remaining=remaining,
        reset_after=full_after,
        retry_after=0.0 if remaining else (1 - tokens) / rate,
    )
    return (tokens, now), result, now + full_after


#: Algorithm name -> its function.
ALGORITHM_FUNCTIONS: dict[str, AlgorithmFunction] = {
    "fixed_window": fixed_window,
    "sliding_window": sliding_window,
    "token_bucket": token_bucket,
}
