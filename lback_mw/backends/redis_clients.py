"""Backend URL -> redis-py client: one server, a Sentinel-watched master, or a Cluster.

The URL forms are those of the ``limits`` library, so one URL serves both:

* ``redis://[[user]:password@]host[:port][/db]``, ``rediss://`` (TLS),
  ``unix:///path/redis.sock?db=0``: one server, :class:`redis.Redis`.
* ``redis+sentinel://[[user]:password@]host[:port][,host[:port]...]/service_name[/db]``:
  the master that the Sentinels name for ``service_name``, found again after a
  failover (:class:`redis.sentinel.Sentinel`, default port 26379). The password is
  the master's; ``?sentinel_password=`` is the Sentinels' own, if they have one.
* ``redis+cluster://[[user]:password@]host[:port][,host[:port]...]``: a Redis Cluster
  from any of its nodes (:class:`redis.cluster.RedisCluster`, database 0 only).

The query holds redis-py's connection options (``socket_timeout``,
``socket_connect_timeout``, ``max_connections``...) and ``key_prefix``. Every
option is checked when the URL is parsed, so a typo stops ``create_app``. Nothing
connects here: a cluster client, which reads the slot map as it is built, is
built on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import Connection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry
from redis.sentinel import Sentinel

from ..exceptions import ImproperlyConfigured

#: Socket timeouts (seconds) unless the URL sets ``socket_connect_timeout`` or
#: ``socket_timeout``: a request waits at most this long for a dead Redis.
DEFAULT_TIMEOUT = 1.0
DEFAULT_KEY_PREFIX = "lback_mw:"
SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
#: Every scheme this module opens.
SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME, CLUSTER_SCHEME)
_DEFAULT_PORTS = {SENTINEL_SCHEME: 26379, CLUSTER_SCHEME: 6379}
#: Options of the connection pool, not of a connection (so not checked against one).
_POOL_OPTIONS = ("max_connections",)

Client = redis.Redis | RedisCluster


@dataclass(frozen=True)
class RedisTarget:
    """What a backend URL points at, parsed and checked, not connected."""

    #: Builds the client; called once, on first use.
    connect: Callable[[], Client]
    #: The server(s), without database, options or password: backends with the
    #: same ``server`` share one circuit breaker.
    server: str
    key_prefix: str


def parse_target(url: str, shown: str, purpose: str) -> RedisTarget:
    """The target of ``url`` (``shown`` is it redacted, for messages)."""
    scheme, _, rest = url.partition("://")
    scheme = scheme.lower()
    base, _, query = rest.partition("?")
    options, key_prefix, sentinel_password = _options(query, shown, purpose)
    if scheme == SENTINEL_SCHEME:
        return _sentinel(base, options, sentinel_password, key_prefix, shown, purpose)
    if scheme == CLUSTER_SCHEME:
        return _cluster(base, options, key_prefix, shown, purpose)
    if sentinel_password is not None:
        _refuse(shown, purpose, f"sentinel_password is for {SENTINEL_SCHEME}:// URLs only")
    client_url = f"{scheme}://{base}" + (f"?{query}" if query else "")
    try:
        # Built now, connected on first use; its pool checks the options below.
        client = redis.Redis.from_url(
            _without(client_url, ("key_prefix",)), **_client_defaults(), retry=_retry()
        )
        pool = client.connection_pool
        pool.connection_class(**pool.connection_kwargs)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"The {purpose} backend URL {shown} is not usable: {exc}"
        ) from exc
    kwargs = pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host')}:{kwargs.get('port')}"
    return RedisTarget(lambda: client, f"{scheme}://{where}", key_prefix)


def _sentinel(
    base: str,
    options: dict[str, Any],
    sentinel_password: str | None,
    key_prefix: str,
    shown: str,
    purpose: str,
) -> RedisTarget:
    netloc, _, path = base.partition("/")
    credentials, nodes = _nodes(netloc, SENTINEL_SCHEME, shown, purpose)
    service, _, db_text = path.strip("/").partition("/")
    if not service:
        _refuse(
            shown,
            purpose,
            "it names no service; write redis+sentinel://host:26379/mymaster "
            "(the name in the Sentinels' 'sentinel monitor' line)",
        )
    db = _db(db_text, shown, purpose)
    connection = {**_client_defaults(), **credentials, **options}
    sentinel_options = {
        key: connection[key] for key in ("socket_timeout", "socket_connect_timeout")
    }
    if sentinel_password is not None:
        sentinel_options["password"] = sentinel_password

    def connect() -> Client:
        # redis-py types Sentinel from 8.2 on, and not before: called through Any,
        # it type-checks with every supported release. master_for returns a redis.Redis.
        untyped_sentinel: Any = Sentinel
        sentinel = untyped_sentinel(nodes, sentinel_kwargs=sentinel_options, **connection)
        master: redis.Redis = sentinel.master_for(service, db=db, retry=_retry())
        return master

    identity = ",".join(f"{host}:{port}" for host, port in nodes)
    return RedisTarget(connect, f"{SENTINEL_SCHEME}://{identity}/{service}", key_prefix)


def _cluster(
    base: str, options: dict[str, Any], key_prefix: str, shown: str, purpose: str
) -> RedisTarget:
    netloc, _, path = base.partition("/")
    credentials, nodes = _nodes(netloc, CLUSTER_SCHEME, shown, purpose)
    if _db(path.strip("/"), shown, purpose) != 0:
        _refuse(shown, purpose, "a Redis Cluster has database 0 only; remove the /db")
    connection = {**_client_defaults(), **credentials, **options}

    def connect() -> Client:
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in nodes],  # type: ignore[no-untyped-call]
            # One retry, after the client re-read the slot map: heals a failover or
            # a moved slot; more would multiply the wait for a node that is hung.
            retry=Retry(NoBackoff(), 1),
            **connection,
        )

    identity = ",".join(f"{host}:{port}" for host, port in nodes)
    return RedisTarget(connect, f"{CLUSTER_SCHEME}://{identity}", key_prefix)


def _options(query: str, shown: str, purpose: str) -> tuple[dict[str, Any], str, str | None]:
    """redis-py's options from the query (typed as its URL parser types them),
    and our own two: ``key_prefix`` and ``sentinel_password``."""
    pairs = parse_qsl(query, keep_blank_values=True)
    ours = {name: value for name, value in pairs if name in ("key_prefix", "sentinel_password")}
    if any(name == "decode_responses" for name, _ in pairs):
        _refuse(
            shown, purpose, "remove decode_responses; the backend stores bytes and decodes nothing"
        )
    rest = [(name, value) for name, value in pairs if name not in ours]
    try:
        options: dict[str, Any] = (
            parse_url("redis://localhost?" + urlencode(rest)) if rest else {}  # type: ignore[no-untyped-call]
        )
        options.pop("host", None)
        Connection(**{k: v for k, v in options.items() if k not in _POOL_OPTIONS})  # type: ignore[no-untyped-call]
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"The {purpose} backend URL {shown} is not usable: {exc}"
        ) from exc
    return options, ours.get("key_prefix", DEFAULT_KEY_PREFIX), ours.get("sentinel_password")


def _nodes(
    netloc: str, scheme: str, shown: str, purpose: str
) -> tuple[dict[str, str], list[tuple[str, int]]]:
    """The credentials and the ``host:port`` list of a Sentinel or Cluster URL."""
    userinfo, _, hosts = netloc.rpartition("@")
    credentials: dict[str, str] = {}
    if userinfo:
        username, has_password, password = userinfo.partition(":")
        if username:
            credentials["username"] = unquote(username)
        if has_password:
            credentials["password"] = unquote(password)
    nodes = []
    for node in hosts.split(","):
        try:
            parts = urlsplit(f"//{node}")
            host, port = parts.hostname, parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            host = None
        if not host:
            _refuse(shown, purpose, f"{node!r} is not host:port; list nodes as host:port,host:port")
        nodes.append((host, port))
    return credentials, nodes


def _db(text: str, shown: str, purpose: str) -> int:
    if not text:
        return 0
    if not text.isdigit():
        _refuse(shown, purpose, f"the database {text!r} must be a number, like /0")
    return int(text)


def _client_defaults() -> dict[str, Any]:
    return {"socket_connect_timeout": DEFAULT_TIMEOUT, "socket_timeout": DEFAULT_TIMEOUT}


def _retry() -> Retry:
    # One immediate retry heals a pooled connection the server closed (or, behind
    # Sentinel, a master that moved); more would multiply the wait for a Redis
    # that is really down.
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def _without(url: str, names: tuple[str, ...]) -> str:
    base, _, query = url.partition("?")
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k not in names]
    return base + (f"?{urlencode(kept)}" if kept else "")


def _refuse(shown: str, purpose: str, reason: str) -> NoReturn:
    raise ImproperlyConfigured(f"The {purpose} backend URL {shown}: {reason}.")
