"""The interface every backend keeps: one set of cases, run against each backend."""

from __future__ import annotations

import threading

import pytest

from lback_mw.backends import RateLimitPolicy, RateLimitResult

from .support import Store


def test_get_set_delete(store: Store) -> None:
    backend = store.backend
    assert backend.get("session:a") is None
    backend.set("session:a", b"\x00first\xff", ttl=60)
    assert backend.get("session:a") == b"\x00first\xff"
    backend.set("session:a", b"second", ttl=60)  # replaces
    assert backend.get("session:a") == b"second"
    backend.delete("session:a")
    assert backend.get("session:a") is None
    backend.delete("session:a")  # deleting a missing key is not an error


def test_add_only_claims_a_free_key(store: Store) -> None:
    backend = store.backend
    assert backend.add("session:new", b"mine", ttl=60) is True
    assert backend.add("session:new", b"theirs", ttl=60) is False
    assert backend.get("session:new") == b"mine"


def test_replace_only_overwrites_a_live_key(store: Store) -> None:
    """What a session save uses: a key deleted meanwhile (a logout) stays deleted."""
    backend = store.backend
    assert backend.replace("session:gone", b"stale", ttl=60) is False
    assert backend.get("session:gone") is None
    backend.set("session:here", b"old", ttl=60)
    assert backend.replace("session:here", b"new", ttl=60) is True
    assert backend.get("session:here") == b"new"
    backend.delete("session:here")
    assert backend.replace("session:here", b"again", ttl=60) is False
    assert backend.get("session:here") is None


def test_add_is_atomic_across_threads(store: Store) -> None:
    """Eight workers racing to claim one session id: exactly one wins."""
    wins: list[bytes] = []
    barrier = threading.Barrier(8)

    def claim(value: bytes) -> None:
        barrier.wait()
        if store.backend.add("session:contested", value, ttl=60):
            wins.append(value)

    threads = [threading.Thread(target=claim, args=(b"v%d" % i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert store.backend.get("session:contested") == wins[0]


@pytest.mark.parametrize("ttl", [0, -5, 1.5, True])
def test_a_ttl_must_be_positive_whole_seconds(store: Store, ttl: object) -> None:
    with pytest.raises(ValueError, match="ttl must be a positive number of seconds"):
        store.backend.set("key", b"value", ttl=ttl)
    with pytest.raises(ValueError, match="ttl must be a positive number of seconds"):
        store.backend.add("key", b"value", ttl=ttl)
    with pytest.raises(ValueError, match="ttl must be a positive number of seconds"):
        store.backend.replace("key", b"value", ttl=ttl)


def test_keys_are_independent(store: Store) -> None:
    store.backend.set("a", b"1", ttl=60)
    store.backend.set("b", b"2", ttl=60)
    store.backend.delete("a")
    assert store.backend.get("b") == b"2"


# -- rate limits: memory and Redis must give the same answers -------------------------------

#: (algorithm, reset_after and retry_after of the refused 4th hit of 3 per 60 s)
REFUSAL = [
    pytest.param("fixed_window", 60.0, 60.0, id="fixed_window"),
    pytest.param("sliding_window", 60.0, 60.0, id="sliding_window"),
    # 3 tokens per 60 s: one token every 20 s, the bucket full again 60 s on.
    pytest.param("token_bucket", 60.0, 20.0, id="token_bucket"),
]


@pytest.mark.parametrize(("algorithm", "reset_after", "retry_after"), REFUSAL)
def test_limit_then_refuse(
    limiter: Store, algorithm: str, reset_after: float, retry_after: float
) -> None:
    policy = RateLimitPolicy(3, 60, algorithm)  # type: ignore[arg-type]
    results = [limiter.backend.hit("client", policy) for _ in range(4)]
    assert [r.allowed for r in results] == [True, True, True, False]
    assert [r.remaining for r in results] == [2, 1, 0, 0]
    assert [r.limit for r in results] == [3] * 4
    assert [r.retry_after for r in results[:2]] == [0.0, 0.0]  # more requests are allowed
    refused = results[3]
    # Redis's clock runs while the test does; a second of slack covers any pause.
    assert refused.reset_after == pytest.approx(reset_after, abs=1)
    assert refused.retry_after == pytest.approx(retry_after, abs=1)
    assert 0 < refused.retry_after <= refused.reset_after


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "token_bucket"])
def test_counters_are_per_key_and_per_algorithm(limiter: Store, algorithm: str) -> None:
    policy = RateLimitPolicy(1, 60, algorithm)  # type: ignore[arg-type]
    assert limiter.backend.hit("alice", policy).allowed
    assert not limiter.backend.hit("alice", policy).allowed
    assert limiter.backend.hit("bob", policy).allowed
    other = "token_bucket" if algorithm != "token_bucket" else "fixed_window"
    assert limiter.backend.hit("alice", RateLimitPolicy(1, 60, other)).allowed  # type: ignore[arg-type]


def test_fixed_window_starts_afresh(limiter: Store) -> None:
    policy = RateLimitPolicy(2, 0.3, "fixed_window")
    assert [limiter.backend.hit("k", policy).allowed for _ in range(3)] == [True, True, False]
    refused = limiter.backend.hit("k", policy)
    limiter.advance(refused.retry_after + 0.02)
    fresh = limiter.backend.hit("k", policy)
    assert (fresh.allowed, fresh.remaining) == (True, 1)


def test_sliding_window_frees_one_slot_as_the_oldest_hit_leaves(limiter: Store) -> None:
    policy = RateLimitPolicy(2, 0.6, "sliding_window")
    assert limiter.backend.hit("k", policy).allowed  # t = 0
    limiter.advance(0.3)
    assert limiter.backend.hit("k", policy).allowed  # t = 0.3
    refused = limiter.backend.hit("k", policy)
    assert not refused.allowed
    # The slot frees when the first hit leaves, at 0.6, not when the last does.
    assert refused.retry_after == pytest.approx(0.3, abs=0.1)
    assert refused.reset_after == pytest.approx(0.6, abs=0.1)
    limiter.advance(refused.retry_after + 0.02)
    again = limiter.backend.hit("k", policy)
    assert (again.allowed, again.remaining) == (True, 0)  # the hit at 0.3 still counts
    assert not limiter.backend.hit("k", policy).allowed


def test_token_bucket_refills_one_token_at_a_time(limiter: Store) -> None:
    policy = RateLimitPolicy(2, 0.3, "token_bucket")  # a token every 0.15 s
    assert [limiter.backend.hit("k", policy).allowed for _ in range(3)] == [True, True, False]
    refused = limiter.backend.hit("k", policy)
    assert refused.retry_after == pytest.approx(0.15, abs=0.05)
    limiter.advance(refused.retry_after + 0.01)
    refilled = limiter.backend.hit("k", policy)
    assert (refilled.allowed, refilled.remaining) == (True, 0)
    assert not limiter.backend.hit("k", policy).allowed


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "token_bucket"])
def test_exact_under_eight_threads(limiter: Store, algorithm: str) -> None:
    """8 threads x 50 hits on one key with a limit of 100: exactly 100 get through."""
    # An hour-long window: the token bucket refills nothing while the test runs.
    policy = RateLimitPolicy(100, 3600, algorithm)  # type: ignore[arg-type]
    results: list[RateLimitResult] = []
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        mine = [limiter.backend.hit("hot", policy) for _ in range(50)]
        results.extend(mine)  # list.extend is atomic under the GIL

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 400
    assert sum(r.allowed for r in results) == 100
    # Every remaining count from 99 down to 0 was handed out exactly once.
    assert sorted(r.remaining for r in results if r.allowed) == list(range(100))
