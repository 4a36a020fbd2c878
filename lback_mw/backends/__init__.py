"""Storage for the stateful middleware: sessions and rate limits.

``open_backend(url, purpose=...)`` picks the backend from the URL's scheme:

* ``memory://`` (``memory://?max_entries=10000``): one process; see :mod:`.memory`.
* ``redis://``, ``rediss://``, ``unix://``, ``redis+sentinel://``, ``redis+cluster://``:
  Redis, shared by every worker; see :mod:`.redis` and :mod:`.redis_clients`.
* any other URL is a SQLAlchemy database URL (``sqlite:///sessions.db``,
  ``postgresql://...``): sessions only; see :mod:`.database`.

The Redis and database modules load only when such a URL is opened, so their
drivers stay optional.
"""

from __future__ import annotations

from typing import Literal, overload
from urllib.parse import parse_qsl, urlsplit

from ..exceptions import ImproperlyConfigured, did_you_mean
from .base import Backend, BackendUnavailable, KeyValueStore, RateLimitStore, redact_url
from .memory import MemoryBackend
from .ratelimit import ALGORITHMS, RateLimitPolicy, RateLimitResult

__all__ = [
    "ALGORITHMS",
    "Backend",
    "BackendUnavailable",
    "KeyValueStore",
    "RateLimitPolicy",
    "RateLimitResult",
    "RateLimitStore",
    "open_backend",
]

#: What a backend can be opened for; the purpose appears in every message.
PURPOSES = ("sessions", "rate limits")
REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+sentinel", "redis+cluster")
#: For the error about a URL nothing can open.
ACCEPTED_FORMS = (
    "memory:// (one process; optionally memory://?max_entries=10000), "
    "redis://[[user]:password@]host[:port][/db], rediss://... (TLS), "
    "unix:///path/to/redis.sock?db=0, redis+sentinel://host:26379[,host:26379]/service[/db], "
    "redis+cluster://host:6379[,host:6379], or a SQLAlchemy database URL such as "
    "sqlite:///sessions.db or postgresql://user:password@host/dbname (sessions only)"
)
_KNOWN_SCHEMES = ("memory", *REDIS_SCHEMES, "sqlite", "postgresql", "mysql", "mariadb", "oracle")


@overload
def open_backend(url: str, *, purpose: Literal["sessions"]) -> KeyValueStore: ...
@overload
def open_backend(url: str, *, purpose: Literal["rate limits"]) -> RateLimitStore: ...
@overload
def open_backend(url: str, *, purpose: str) -> KeyValueStore | RateLimitStore: ...
def open_backend(url: str, *, purpose: str) -> KeyValueStore | RateLimitStore:
    """The backend for ``url``; raises ImproperlyConfigured for a URL it cannot open.

    Opening connects to nothing: a store that is down shows up as
    :class:`BackendUnavailable` from the first operation, so an app can start
    (and fail open) while Redis is restarting.

    :param purpose: ``"sessions"`` or ``"rate limits"``.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {PURPOSES}, not {purpose!r}")
    if not isinstance(url, str) or not url.strip():
        raise ImproperlyConfigured(
            f"The {purpose} backend URL is empty ({url!r}); use one of: {ACCEPTED_FORMS}."
        )
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "memory":
        return _open_memory(url, purpose)
    if scheme in REDIS_SCHEMES:
        from .redis import RedisBackend  # here: redis is an optional dependency

        return RedisBackend(url, purpose=purpose)
    return _open_database(url, purpose)


def _open_memory(url: str, purpose: str) -> MemoryBackend:
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    max_entries = options.pop("max_entries", None)
    if parts.netloc or parts.path or options:
        extra = parts.netloc + parts.path or "?" + "&".join(options)
        raise ImproperlyConfigured(
            f"The {purpose} backend URL {url!r} has {extra!r}, which memory:// does not take; "
            "write memory:// or memory://?max_entries=10000."
        )
    if max_entries is None:
        return MemoryBackend(url, purpose=purpose)
    if not max_entries.isdigit() or int(max_entries) < 1:
        raise ImproperlyConfigured(
            f"The {purpose} backend URL {url!r}: max_entries must be a whole number >= 1, "
            f"not {max_entries!r}."
        )
    return MemoryBackend(url, purpose=purpose, max_entries=int(max_entries))


def _open_database(url: str, purpose: str) -> KeyValueStore:
    # Here, not at the top: a project on memory:// or Redis never loads SQLAlchemy.
    from sqlalchemy import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = redact_url(url)
    try:
        make_url(url).get_dialect()
    except NoSuchModuleError as exc:  # before ArgumentError: a subclass of it
        scheme = url.partition("://")[0]
        raise ImproperlyConfigured(
            f"The {purpose} backend URL {shown!r} has an unknown scheme {scheme!r}."
            f"{did_you_mean(scheme, _KNOWN_SCHEMES)} Use one of: {ACCEPTED_FORMS}."
        ) from exc
    except ArgumentError as exc:
        raise ImproperlyConfigured(
            f"The {purpose} backend URL {shown!r} is not a URL lback_mw can open ({exc}). "
            f"Use one of: {ACCEPTED_FORMS}."
        ) from exc
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"The {purpose} backend URL {shown!r} needs a database driver that is not "
            f"installed: {exc}"
        ) from exc
    if purpose == "rate limits":
        raise ImproperlyConfigured(
            f"The rate limits backend URL {shown!r} is a database URL; rate limits need "
            "memory:// (one process) or redis://host:6379/0 (shared by every worker)."
        )
    from .database import DatabaseBackend

    return DatabaseBackend(url, purpose=purpose)
