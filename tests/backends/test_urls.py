"""open_backend: which backend a URL opens, and the errors for URLs it cannot."""

from __future__ import annotations

import pytest

from lback_mw import ImproperlyConfigured
from lback_mw.backends import open_backend
from lback_mw.backends.base import redact_url
from lback_mw.backends.memory import MemoryBackend
from lback_mw.backends.redis import RedisBackend


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("memory://", MemoryBackend),
        ("redis://127.0.0.1:6379/0", RedisBackend),
        ("rediss://127.0.0.1:6380/1", RedisBackend),
        ("unix:///run/redis.sock?db=2", RedisBackend),
        ("redis+sentinel://127.0.0.1:26379,127.0.0.2/mymaster/3", RedisBackend),
        ("redis+cluster://127.0.0.1:7000,127.0.0.1:7001", RedisBackend),
    ],
)
def test_scheme_picks_the_backend(url: str, kind: type) -> None:
    backend = open_backend(url, purpose="rate limits")  # connects to nothing yet
    assert type(backend) is kind
    backend.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("", "The sessions backend URL is empty ('')", id="empty"),
        pytest.param(
            "localhost:6379",
            "The sessions backend URL 'localhost:6379' is not a URL lback_mw can open",
            id="no scheme",
        ),
        pytest.param(
            "reddis://localhost:6379",
            "has an unknown scheme 'reddis'. Did you mean 'redis'?",
            id="typo in scheme",
        ),
        pytest.param(
            "memory://cache", "has 'cache', which memory:// does not take", id="memory host"
        ),
        pytest.param(
            "memory://?size=10", "has '?size', which memory:// does not take", id="memory option"
        ),
        pytest.param(
            "memory://?max_entries=lots",
            "max_entries must be a whole number >= 1, not 'lots'",
            id="memory max_entries",
        ),
    ],
)
def test_urls_that_cannot_be_opened(url: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        open_backend(url, purpose="sessions")
    assert message in str(info.value)


def test_every_url_error_lists_the_accepted_forms() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        open_backend("localhost:6379", purpose="rate limits")
    for form in ("memory://", "redis://", "rediss://", "unix://", "sqlite:///"):
        assert form in str(info.value)


def test_purpose_is_checked() -> None:
    with pytest.raises(ValueError, match="purpose must be one of"):
        open_backend("memory://", purpose="cache")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://user:hunter2@host/0", "redis://user:***@host/0"),
        ("redis://host/0?password=hunter2&db=1", "redis://host/0?password=***&db=1"),
        ("unix:///run/redis.sock?password=hunter2", "unix:///run/redis.sock?password=***"),
        ("postgresql://app:p%40ss@db/app", "postgresql://app:***@db/app"),
        ("sqlite:///relative.db", "sqlite:///relative.db"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("memory://", "memory://"),
        ("redis://:pw@host:port/0", "redis://:***@host:port/0"),
        ("redis://:pw@[::1/0", "(unparseable URL)"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param(
            "redis+sentinel://:pw@127.0.0.1:26379",
            "redis+sentinel://:***@127.0.0.1:26379: it names no service; write "
            "redis+sentinel://host:26379/mymaster",
            id="sentinel without service",
        ),
        pytest.param(
            "redis+sentinel://127.0.0.1:26379/mymaster/one",
            "the database 'one' must be a number, like /0",
            id="sentinel bad db",
        ),
        pytest.param(
            "redis+cluster://127.0.0.1:7000/2",
            "a Redis Cluster has database 0 only; remove the /db",
            id="cluster db",
        ),
        pytest.param(
            "redis+cluster://127.0.0.1:7000,:7001",
            "':7001' is not host:port; list nodes as host:port,host:port",
            id="cluster node without host",
        ),
        pytest.param(
            "redis+cluster://127.0.0.1:7000?sokcet_timeout=1",
            "unexpected keyword argument 'sokcet_timeout'",
            id="cluster option typo",
        ),
        pytest.param(
            "redis://127.0.0.1/0?sentinel_password=x",
            "sentinel_password is for redis+sentinel:// URLs only",
            id="sentinel option elsewhere",
        ),
    ],
)
def test_sentinel_and_cluster_url_mistakes(url: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        open_backend(url, purpose="rate limits")
    assert message in str(info.value)
