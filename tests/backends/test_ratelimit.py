"""Rate-limit policies, and the algorithms' arithmetic on a clock the test controls."""

from __future__ import annotations

from typing import Any

import pytest

from lback_mw.backends.ratelimit import (
    RateLimitPolicy,
    fixed_window,
    sliding_window,
    token_bucket,
)


@pytest.mark.parametrize(
    ("rate", "limit", "window"),
    [
        pytest.param("100/minute", 100, 60, id="minute"),
        pytest.param("10/second", 10, 1, id="second"),
        pytest.param("1000/hour", 1000, 3600, id="hour"),
        pytest.param("5/day", 5, 86400, id="day"),
        pytest.param("100/15 minutes", 100, 900, id="multiple"),
        pytest.param("100/15minutes", 100, 900, id="multiple without a space"),
        pytest.param(" 3 / 2.5 s ", 3, 2.5, id="spaces, fraction, short unit"),
        pytest.param("60 per Hour", 60, 3600, id="per, any case"),
        pytest.param("7/d", 7, 86400, id="d"),
    ],
)
def test_parse(rate: str, limit: int, window: float) -> None:
    policy = RateLimitPolicy.parse(rate, "token_bucket")
    assert policy == RateLimitPolicy(limit, window, "token_bucket")


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        pytest.param("100", "'100' is not a rate; write it like '100/minute'", id="no period"),
        pytest.param("lots/minute", "is not a rate", id="no count"),
        pytest.param("-1/minute", "is not a rate", id="negative"),
        pytest.param("0/minute", "allows no request at all", id="zero count"),
        pytest.param("5/0 minutes", "has a period of zero", id="zero period"),
        pytest.param(
            "5/mintue", "unknown period 'mintue'.*Did you mean 'minute'", id="typo in unit"
        ),
        pytest.param("5/month", "unknown period 'month'; use second, minute", id="month"),
    ],
)
def test_parse_errors_say_what_to_write(rate: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimitPolicy.parse(rate)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0, "window": 60}, "limit must be a whole number >= 1, not 0"),
        ({"limit": 1.5, "window": 60}, "limit must be a whole number"),
        ({"limit": 10, "window": 0}, "window must be at least 0.001 seconds, not 0"),
        ({"limit": 10, "window": float("inf")}, "window must be at least 0.001 seconds"),
        ({"limit": 10, "window": 60, "algorithm": "leaky"}, "unknown algorithm 'leaky'"),
        (
            {"limit": 10, "window": 60, "algorithm": "token-bucket"},
            "Did you mean 'token_bucket'",
        ),
    ],
)
def test_policy_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimitPolicy(**kwargs)


@pytest.mark.parametrize(
    ("policy", "text"),
    [
        (RateLimitPolicy(100, 60), "100 requests per minute"),
        (RateLimitPolicy(1, 3600), "1 request per hour"),
        (RateLimitPolicy(5, 900), "5 requests per 900 seconds"),
        (RateLimitPolicy(5, 2.5), "5 requests per 2.5 seconds"),
    ],
)
def test_describe(policy: RateLimitPolicy, text: str) -> None:
    assert policy.describe() == text


def run(function: Any, policy: RateLimitPolicy, times: list[float]) -> list[bool]:
    """Feed hits at ``times`` through one algorithm; the verdicts."""
    state, verdicts = None, []
    for now in times:
        state, result, _ = function(state, now, policy)
        verdicts.append(result.allowed)
    return verdicts


def test_fixed_window_lets_a_burst_through_at_the_boundary() -> None:
    """The known weakness: 2 per 10 s, yet 4 hits within 0.2 s around t = 10."""
    policy = RateLimitPolicy(2, 10, "fixed_window")
    assert run(fixed_window, policy, [0, 9.9, 9.9, 10.0, 10.1, 10.1]) == [
        True,
        True,
        False,
        True,
        True,
        False,
    ]


def test_sliding_window_never_exceeds_the_limit_in_any_window() -> None:
    policy = RateLimitPolicy(2, 10, "sliding_window")
    times = [0, 9.5, 9.5, 10.0, 10.5, 19.0, 19.5, 19.75]
    assert run(sliding_window, policy, times) == [
        True,
        True,
        False,
        True,
        False,
        False,
        True,
        False,
    ]
    allowed = [t for t, ok in zip(times, run(sliding_window, policy, times), strict=True) if ok]
    for start in allowed:
        assert sum(start <= t < start + 10 for t in allowed) <= 2


def test_sliding_window_state_stays_bounded_by_the_limit() -> None:
    policy = RateLimitPolicy(5, 10, "sliding_window")
    state = None
    for i in range(1000):
        state, _, _ = sliding_window(state, i * 0.001, policy)
    assert state is not None
    assert len(state) == 5  # refused hits are not logged


def test_token_bucket_burst_then_steady_rate() -> None:
    policy = RateLimitPolicy(4, 8, "token_bucket")  # a token every 2 s
    assert run(token_bucket, policy, [0, 0, 0, 0, 0, 1.9, 2.0, 3.0, 4.0]) == [
        True,
        True,
        True,
        True,
        False,  # empty
        False,  # 0.95 of a token
        True,  # one token at t = 2
        False,
        True,
    ]


def test_token_bucket_never_holds_more_than_the_limit() -> None:
    policy = RateLimitPolicy(3, 3, "token_bucket")
    # A day of silence refills the bucket to 3 tokens, not 86400.
    assert run(token_bucket, policy, [0, 86400, 86400, 86400, 86400]) == [
        True,
        True,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize("function", [fixed_window, sliding_window, token_bucket])
def test_state_may_be_dropped_when_it_expires(function: Any) -> None:
    """At ``expires_at`` the stored state is worth no more than no state at all."""
    policy = RateLimitPolicy(3, 30, "fixed_window")
    state, _, expires_at = function(None, 100.0, policy)
    state, _, expires_at = function(state, 105.0, policy)
    _, kept, _ = function(state, expires_at, policy)
    _, fresh, _ = function(None, expires_at, policy)
    assert kept == fresh
