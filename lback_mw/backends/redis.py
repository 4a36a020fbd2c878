"""The Redis backend: state shared by every worker and machine, atomic by Lua.

Each rate-limit hit is one Lua script: Redis runs a script alone, so the read,
the decision and the write of one hit cannot interleave with another worker's.
The scripts read the time from the Redis server (``TIME``), never from the
worker, so the workers' clocks may disagree without changing any verdict.
They mirror the Python functions of :mod:`lback_mw.backends.ratelimit`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..exceptions import ImproperlyConfigured
from .base import Backend, check_ttl
from .ratelimit import RateLimitPolicy, RateLimitResult

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from redis.retry import Retry
except ImportError as exc:
    raise ImproperlyConfigured(
        "A redis:// backend needs the redis package, which is not installed. "
        "Install it with: pip install 'lback_mw[redis]'"
    ) from exc

T = TypeVar("T")

#: Socket timeouts (seconds) unless the URL sets ``socket_connect_timeout`` or
#: ``socket_timeout``: a request waits at most this long for a dead Redis.
DEFAULT_TIMEOUT = 1.0
DEFAULT_KEY_PREFIX = "lback_mw:"
#: After the server could not be reached, calls fail at once for this many
#: seconds instead of each waiting for a timeout (a blackholed Redis would
#: otherwise hold every request for the connect timeout).
RETRY_INTERVAL = 1.0

# KEYS[1]: the counter. ARGV: limit, window in ms. Mirrors ratelimit.fixed_window;
# the window's end is the key's expiry, kept by the server's clock.
_FIXED_WINDOW = """
local limit = tonumber(ARGV[1])
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  ttl = tonumber(ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
local remaining = math.max(0, limit - count)
local retry = 0
if remaining == 0 then retry = ttl * 1000 end
return {count <= limit and 1 or 0, remaining, ttl * 1000, retry}
"""

# KEYS[1]: a sorted set of hit times (µs). Mirrors ratelimit.sliding_window.
_SLIDING_WINDOW = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2]) * 1000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, string.format('%d-%d', now, count))
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  count = count + 1
  allowed = 1
end
local newest = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
local retry = 0
if count >= limit then
  retry = tonumber(redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]) + window - now
end
return {allowed, limit - count, newest + window - now, retry}
"""

# KEYS[1]: a hash {tokens, ts (µs)}. Mirrors ratelimit.token_bucket.
_TOKEN_BUCKET = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2]) * 1000
local rate = limit / window
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, updated = tonumber(state[1]), tonumber(state[2])
if tokens == nil or updated == nil then tokens, updated = limit, now end
tokens = math.min(limit, tokens + math.max(0, now - updated) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
local remaining = math.floor(tokens)
local full = (limit - tokens) / rate
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(full / 1000)))
local retry = 0
if remaining == 0 then retry = (1 - tokens) / rate end
return {allowed, remaining, math.ceil(full), math.ceil(retry)}
"""

_SCRIPTS = {
    "fixed_window": _FIXED_WINDOW,
    "sliding_window": _SLIDING_WINDOW,
    "token_bucket": _TOKEN_BUCKET,
}


class RedisBackend(Backend):
    """Keys under ``key_prefix`` (``?key_prefix=`` in the URL) with server-side TTLs.

    The URL is redis-py's (``redis://[[user]:[password]@]host[:port][/db]``,
    ``rediss://`` for TLS, ``unix:///path.sock?db=0``), with its query options
    (``socket_timeout``, ``socket_connect_timeout``, ``max_connections``...).

    :param clock: the monotonic clock of :data:`RETRY_INTERVAL`; never used for
        rate-limit time, which comes from the server.
    """

    def __init__(
        self, url: str, *, purpose: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(url, purpose=purpose)
        parts = urlsplit(url)
        options = parse_qsl(parts.query, keep_blank_values=True)
        self.key_prefix = DEFAULT_KEY_PREFIX
        passed = []
        for name, value in options:
            if name == "key_prefix":
                self.key_prefix = value
            elif name == "decode_responses":
                raise ImproperlyConfigured(
                    f"The {purpose} backend URL {self.url}: remove decode_responses; the "
                    "backend stores bytes and decodes nothing."
                )
            else:
                passed.append((name, value))
        client_url = url.partition("?")[0] + (f"?{urlencode(passed)}" if passed else "")
        try:
            self._client = redis.Redis.from_url(
                client_url,
                socket_connect_timeout=DEFAULT_TIMEOUT,
                socket_timeout=DEFAULT_TIMEOUT,
                # One immediate retry heals a pooled connection the server closed;
                # more would multiply the wait for a Redis that is really down.
                retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            )
            pool = self._client.connection_pool
            # Build (not connect) one connection now, so an unknown URL option is
            # reported at start-up rather than on the first request.
            pool.connection_class(**pool.connection_kwargs)
        except (ValueError, TypeError) as exc:
            raise ImproperlyConfigured(
                f"The {purpose} backend URL {self.url} is not usable: {exc}"
            ) from exc
        self._scripts = {
            name: self._client.register_script(source) for name, source in _SCRIPTS.items()
        }
        self.clock = clock
        self._down_until = 0.0
        self._down_error: BaseException | None = None

    def get(self, key: str) -> bytes | None:
        # Bytes: the client never decodes (decode_responses is refused above).
        return cast("bytes | None", self._call(self._client.get, self.key_prefix + key))

    def set(self, key: str, value: bytes, ttl: int) -> None:
        check_ttl(ttl)
        self._call(self._client.set, self.key_prefix + key, value, ex=ttl)

    def add(self, key: str, value: bytes, ttl: int) -> bool:
        check_ttl(ttl)
        return bool(self._call(self._client.set, self.key_prefix + key, value, ex=ttl, nx=True))

    def replace(self, key: str, value: bytes, ttl: int) -> bool:
        check_ttl(ttl)
        return bool(self._call(self._client.set, self.key_prefix + key, value, ex=ttl, xx=True))

    def delete(self, key: str) -> None:
        self._call(self._client.delete, self.key_prefix + key)

    def hit(self, key: str, policy: RateLimitPolicy) -> RateLimitResult:
        script = self._scripts[policy.algorithm]
        window_ms = max(1, round(policy.window * 1000))
        full_key = f"{self.key_prefix}ratelimit:{policy.algorithm}:{key}"
        allowed, remaining, reset_us, retry_us = self._call(
            script, keys=[full_key], args=[policy.limit, window_ms]
        )
        return RateLimitResult(
            allowed=bool(allowed),
            limit=policy.limit,
            remaining=int(remaining),
            reset_after=int(reset_us) / 1e6,
            retry_after=int(retry_us) / 1e6,
        )

    def close(self) -> None:
        self._client.close()

    def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self._down_error is not None and self.clock() < self._down_until:
            raise self.unavailable(self._down_error) from self._down_error
        try:
            return function(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            self._down_error, self._down_until = exc, self.clock() + RETRY_INTERVAL
            raise self.unavailable(exc) from exc
        except RedisError as exc:  # a server that answers but refuses (READONLY, OOM)
            raise self.unavailable(exc) from exc
