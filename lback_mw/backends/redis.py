"""The Redis backend: state shared by every worker and machine, atomic by Lua.

Each rate-limit hit is one Lua script: Redis runs a script alone, so the read,
the decision and the write of one hit cannot interleave with another worker's.
The scripts read the time from the Redis server (``TIME``), never from the
worker, so the workers' clocks may disagree without changing any verdict.
They mirror the Python functions of :mod:`lback_mw.backends.ratelimit`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

from ..exceptions import ImproperlyConfigured
from .base import KeyValueStore, RateLimitStore, check_ttl
from .breaker import Breaker, CircuitOpen, breaker_for
from .ratelimit import RateLimitPolicy, RateLimitResult

try:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisClusterException, RedisError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from .redis_clients import Client, parse_target
except ImportError as exc:
    raise ImproperlyConfigured(
        "A redis:// backend needs the redis package, which is not installed. "
        "Install it with: pip install 'lback_mw[redis]'"
    ) from exc

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


class RedisBackend(KeyValueStore, RateLimitStore):
    """Keys under ``key_prefix`` (``?key_prefix=`` in the URL) with server-side TTLs.

    The URL is one of :mod:`.redis_clients`' forms: ``redis://``, ``rediss://``,
    ``unix://``, ``redis+sentinel://`` or ``redis+cluster://``, with redis-py's
    options in the query. Calls go through the :class:`~.breaker.Breaker` of the
    server, shared with every other backend of this process on that server.
    """

    def __init__(self, url: str, *, purpose: str) -> None:
        super().__init__(url, purpose=purpose)
        target = parse_target(url, self.url, purpose)
        self.key_prefix = target.key_prefix
        #: The server's breaker; its ``is_open`` says whether calls fail at once.
        self.breaker: Breaker = breaker_for(target.server)
        self._connect = target.connect
        self._client_or_none: Client | None = None
        self._client_lock = threading.Lock()
        #: Algorithm name -> its registered script, once the client is built.
        self._scripts: dict[str, Any] = {}

    def get(self, key: str) -> bytes | None:
        # Bytes: the client never decodes (decode_responses is refused by the URL parser).
        return cast("bytes | None", self._call("get", self.key_prefix + key))

    def set(self, key: str, value: bytes, ttl: int) -> None:
        check_ttl(ttl)
        self._call("set", self.key_prefix + key, value, ex=ttl)

    def add(self, key: str, value: bytes, ttl: int) -> bool:
        check_ttl(ttl)
        return bool(self._call("set", self.key_prefix + key, value, ex=ttl, nx=True))

    def replace(self, key: str, value: bytes, ttl: int) -> bool:
        check_ttl(ttl)
        return bool(self._call("set", self.key_prefix + key, value, ex=ttl, xx=True))

    def delete(self, key: str) -> None:
        self._call("delete", self.key_prefix + key)

    def hit(self, key: str, policy: RateLimitPolicy) -> RateLimitResult:
        window_ms = max(1, round(policy.window * 1000))
        # The braces are a hash tag: on a Redis Cluster the slot is chosen from the
        # tag alone, so whatever keys a limit's script touches sit on one node.
        full_key = f"{self.key_prefix}ratelimit:{policy.algorithm}:{{{key}}}"
        allowed, remaining, reset_us, retry_us = self._call(
            policy.algorithm, keys=[full_key], args=[policy.limit, window_ms]
        )
        return RateLimitResult(
            allowed=bool(allowed),
            limit=policy.limit,
            remaining=int(remaining),
            reset_after=int(reset_us) / 1e6,
            retry_after=int(retry_us) / 1e6,
        )

    def close(self) -> None:
        client = self._client_or_none
        if client is not None:
            client.close()
            # redis-py 5.0.0's close() left a from_url client's pool connected
            # (5.0.1 fixed it): disconnect it here, the same on every release.
            pool = getattr(client, "connection_pool", None)
            if pool is not None:
                pool.disconnect()

    def _client(self) -> Client:
        client = self._client_or_none
        if client is None:
            with self._client_lock:
                client = self._client_or_none
                if client is None:
                    client = self._connect()
                    for name, source in _SCRIPTS.items():
                        self._scripts[name] = client.register_script(source)
                    self._client_or_none = client
        return client

    def _call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        """Run a client method (or a script, by algorithm name) through the breaker."""
        breaker = self.breaker
        try:
            breaker.before_call()
        except CircuitOpen as exc:
            cause = exc.__cause__ or exc
            raise self.unavailable(cause) from cause
        try:
            client = self._client()
            function: Callable[..., Any] = self._scripts.get(operation) or getattr(
                client, operation
            )
            result = function(*args, **kwargs)
        # RedisClusterException is no RedisError: it is how a cluster client says that
        # none of the listed nodes answered while it read the slot map.
        except (RedisConnectionError, RedisTimeoutError, RedisClusterException) as exc:
            breaker.failed(exc)
            raise self.unavailable(exc) from exc
        except RedisError as exc:  # a server that answers but refuses (READONLY, OOM)
            breaker.succeeded()
            raise self.unavailable(exc) from exc
        breaker.succeeded()
        return result
