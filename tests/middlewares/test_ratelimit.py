"""RateLimitMiddleware: 429s with problem details, headers, rules, keys, backends and outages."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request
from lback_mw.middlewares.ratelimit import RateLimitMiddleware
from lback_mw.testing import Client
from tests.backends.support import FakeClock, unused_port

PATH = "lback_mw.middlewares.RateLimitMiddleware"


def api_key(request: Request) -> str | None:
    """A key_func: one counter per API key; requests without a key are not limited."""
    key = request.headers.get("X-API-Key")
    return f"api-key:{key}" if key else None


class User:
    def __init__(self, user_id: int | None) -> None:
        self.id = user_id
        self.is_authenticated = user_id is not None


class FakeAuthMiddleware(BaseMiddleware):
    """Sets request.user from an X-User header, as an authentication middleware would."""

    def process_request(self, request: Request) -> None:
        header = request.headers.get("X-User")
        request.user = User(int(header) if header else None)


@pytest.fixture
def make(app_factory: Callable[..., App]) -> Iterator[Callable[..., App]]:
    """``make(limit="2/minute", ...)``: an app with RateLimitMiddleware and a few views."""
    limiters: list[RateLimitMiddleware] = []

    def build(*, before: list[Any] | None = None, settings: Any = None, **params: Any) -> App:
        app = app_factory(
            MIDDLEWARES=[*(before or []), {"class": PATH, "params": params}], **(settings or {})
        )
        for path in ("/", "/api/items", "/api/users", "/health", "/login"):
            app.route(path, methods=["GET", "POST"], endpoint=path)(lambda request: "ok")
        limiters.append(app.chain[-1].instance)
        return app

    yield build
    for limiter in limiters:
        limiter.close()


def limiter_of(app: App) -> RateLimitMiddleware:
    instance = app.chain[-1].instance
    assert isinstance(instance, RateLimitMiddleware)
    return instance


def statuses(client: Client, path: str, times: int, **kwargs: Any) -> list[int]:
    return [client.open(path, **kwargs).status_code for _ in range(times)]


def test_limits_and_answers_429_with_problem_details(
    make: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    client = client_for(make(limit="2/minute"))
    first, second, third = (client.get("/") for _ in range(3))
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
    assert [r.headers["RateLimit-Limit"] for r in (first, second, third)] == ["2"] * 3
    assert [r.headers["RateLimit-Remaining"] for r in (first, second, third)] == ["1", "0", "0"]
    assert [r.headers["RateLimit-Reset"] for r in (first, second, third)] == ["60"] * 3
    assert "Retry-After" not in first.headers
    assert third.headers["Retry-After"] == "60"
    assert third.mimetype == "application/problem+json"
    assert third.json == {
        "type": "about:blank",
        "title": "Too Many Requests",
        "status": 429,
        "detail": "The rate limit of 2 requests per minute was exceeded; retry in 60 seconds.",
    }


def test_headers_round_up_and_retry_after_is_at_least_one_second(
    make: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = make(max_requests=1, window_seconds="10")  # strings, as from YAML
    clock = FakeClock()
    limiter_of(app).backend.clock = clock  # type: ignore[attr-defined]
    client = client_for(app)
    assert client.get("/").status_code == 200
    clock.advance(9.95)  # 0.05 s left in the window
    refused = client.get("/")
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Reset"] == "1"
    assert refused.headers["Retry-After"] == "1"
    assert refused.json is not None
    assert refused.json["detail"].endswith("retry in 1 second.")
    clock.advance(0.05)
    assert client.get("/").status_code == 200


def test_error_responses_carry_the_headers_too(
    make: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    client = client_for(make(limit="5/minute"))
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["RateLimit-Remaining"] == "4"


@pytest.mark.parametrize("algorithm", ["fixed_window", "sliding_window", "token_bucket"])
def test_each_algorithm(
    make: Callable[..., App], client_for: Callable[[App], Client], algorithm: str
) -> None:
    app = make(limit="3/minute", algorithm=algorithm)
    assert limiter_of(app).default_policy.algorithm == algorithm  # type: ignore[union-attr]
    assert statuses(client_for(app), "/", 4) == [200, 200, 200, 429]


def test_default_algorithm_is_fixed_window(make: Callable[..., App]) -> None:
    assert limiter_of(make(limit="1/second")).default_policy.algorithm == "fixed_window"  # type: ignore[union-attr]


def test_rules_first_match_wins(
    make: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    client = client_for(
        make(
            limit="100/minute",
            rules=[
                {"path": "/login", "limit": "1/minute", "methods": ["post"]},
                {"path": "/api/users", "limit": "3/minute"},  # before /api/* on purpose
                {"path": "/api/*", "limit": "2/minute"},
            ],
        )
    )
    assert statuses(client, "/login", 2, method="POST") == [200, 429]
    assert statuses(client, "/login", 3) == [200, 200, 200]  # GET: the default limit
    assert client.get("/login").headers["RateLimit-Limit"] == "100"
    assert statuses(client, "/api/items", 3) == [200, 200, 429]
    assert statuses(client, "/api/users", 4) == [200, 200, 200, 429]  # its own counter
    assert client.get("/").headers["RateLimit-Remaining"] == "95"  # GET /login x4 and this


def test_a_get_rule_limits_head_too(
    make: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    """HEAD runs the GET view (only the body is dropped), so it must not slip past."""
    app = make(rules=[{"path": "/api/*", "limit": "2/minute", "methods": ["GET"]}])
    client = client_for(app)
    assert statuses(client, "/api/items", 1) == [200]
    # werkzeug's linter counts a HEAD response's Content-Length against the empty
    # body, so HEAD goes through a plain client.
    assert statuses(Client(app), "/api/items", 2, method="HEAD") == [200, 429]
    assert statuses(client, "/api/items", 1) == [429]  # one counter for both
    assert statuses(client, "/api/items", 3, method="POST") == [200, 200, 200]


def test_without_a_default_only_rules_limit(
    make: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    client = client_for(make(rules=[{"path": "/api/*", "limit": "1/minute"}]))
    assert statuses(client, "/api/items", 2) == [200, 429]
    unlimited = client.get("/")
    assert unlimited.status_code == 200
    assert "RateLimit-Limit" not in unlimited.headers


def test_exempt_paths(make: Callable[..., App], client_for: Callable[[App], Client]) -> None:
    client = client_for(make(limit="1/minute", exempt_paths=["/health", "/api/*"]))
    assert statuses(client, "/health", 3) == [200, 200, 200]
    assert statuses(client, "/api/items", 3) == [200, 200, 200]
    assert "RateLimit-Limit" not in client.get("/health").headers
    assert statuses(client, "/", 2) == [200, 429]


def test_key_func(make: Callable[..., App], client_for: Callable[[App], Client]) -> None:
    client = client_for(make(limit="1/minute", key_func=f"{__name__}.api_key"))
    assert statuses(client, "/", 2, headers={"X-API-Key": "a"}) == [200, 429]
    assert statuses(client, "/", 1, headers={"X-API-Key": "b"}) == [200]
    assert statuses(client, "/", 3) == [200, 200, 200]  # None: not limited


def test_key_user_counts_per_user_and_falls_back_to_the_ip(
    make: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = make(before=[FakeAuthMiddleware], limit="1/minute", key="user")
    client = client_for(app)
    assert statuses(client, "/", 2, headers={"X-User": "1"}) == [200, 429]
    assert statuses(client, "/", 1, headers={"X-User": "2"}) == [200]
    assert statuses(client, "/", 2) == [200, 429]  # anonymous: by IP
    other_ip = {"REMOTE_ADDR": "192.0.2.7"}
    assert statuses(client, "/", 1, environ_base=other_ip) == [200]


def test_a_forged_x_forwarded_for_does_not_change_the_client(
    make: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    client = client_for(make(limit="1/minute"))
    assert client.get("/", headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 200
    assert client.get("/", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 429


def test_behind_proxy_fix_the_forwarded_client_counts(
    make: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    proxy_fix = {"class": "werkzeug.middleware.proxy_fix.ProxyFix", "params": {"x_for": 1}}
    client = client_for(make(limit="1/minute", settings={"WSGI_MIDDLEWARES": [proxy_fix]}))
    assert statuses(client, "/", 2, headers={"X-Forwarded-For": "198.51.100.1"}) == [200, 429]
    assert statuses(client, "/", 1, headers={"X-Forwarded-For": "198.51.100.2"}) == [200]


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        pytest.param("2001:db8::1", "2001:db8::ffff:2", True, id="same IPv6 /64"),
        pytest.param("2001:db8::1", "2001:db8:0:1::1", False, id="another IPv6 /64"),
        pytest.param("::ffff:192.0.2.1", "192.0.2.1", True, id="IPv4-mapped"),
        pytest.param("192.0.2.1", "192.0.2.2", False, id="IPv4"),
    ],
)
def test_ip_grouping(
    make: Callable[..., App],
    client_for: Callable[[App], Client],
    first: str,
    second: str,
    shared: bool,
) -> None:
    client = client_for(make(limit="1/minute"))
    assert client.get("/", environ_base={"REMOTE_ADDR": first}).status_code == 200
    response = client.get("/", environ_base={"REMOTE_ADDR": second})
    assert response.status_code == (429 if shared else 200)


def test_redis_backend_is_shared_by_workers(
    make: Callable[..., App], client_for: Callable[[App], Client], redis_url: str
) -> None:
    """Two apps on one Redis are two workers: one limit across both."""
    settings = {"RATELIMIT_BACKEND": redis_url}
    workers = [client_for(make(limit="3/minute", settings=settings)) for _ in range(2)]
    assert [workers[i % 2].get("/").status_code for i in range(4)] == [200, 200, 200, 429]


def test_backend_parameter_wins_over_the_setting(make: Callable[..., App], redis_url: str) -> None:
    app = make(limit="1/minute", backend="memory://", settings={"RATELIMIT_BACKEND": redis_url})
    assert limiter_of(app).backend.url == "memory://"
    assert limiter_of(make(limit="1/minute")).backend.url == "memory://"  # the default


@pytest.fixture
def dead_redis() -> str:
    return f"redis://:hunter2@127.0.0.1:{unused_port()}/0"


def test_fail_open_lets_requests_through_and_warns_once(
    make: Callable[..., App],
    client_for: Callable[[App], Client],
    dead_redis: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = client_for(make(limit="1/minute", backend=dead_redis))
    caplog.clear()  # the app's start-up records (at DEBUG in the suite, see conftest)
    with caplog.at_level(logging.WARNING, logger="lback_mw.middlewares.ratelimit"):
        responses = [client.get("/") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all("RateLimit-Limit" not in r.headers for r in responses)
    (record,) = caplog.records  # once, not once per request
    message = record.getMessage()
    assert message.startswith("Rate limiting is off, letting requests through unlimited: ")
    assert "redis://:***@127.0.0.1" in message
    assert "hunter2" not in message


def test_fail_closed_answers_503(
    make: Callable[..., App], client_for: Callable[[App], Client], dead_redis: str
) -> None:
    client = client_for(make(limit="1/minute", backend=dead_redis, fail_open=False))
    response = client.get("/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.mimetype == "application/problem+json"
    assert response.json is not None
    assert response.json["title"] == "Service Unavailable"
    assert "redis" not in response.text  # nothing about the backend for clients


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({}, "RateLimitMiddleware: no limit is configured", id="no limit"),
        pytest.param(
            {"limit": "5/minute", "max_requests": 5},
            "give either limit ('5/minute') or max_requests and window_seconds, not both",
            id="both forms",
        ),
        pytest.param(
            {"max_requests": 5},
            "max_requests and window_seconds go together; window_seconds is missing",
            id="half a policy",
        ),
        pytest.param(
            {"max_requests": 0, "window_seconds": 60},
            "max_requests/window_seconds: the limit must be a whole number >= 1, not 0",
            id="zero requests",
        ),
        pytest.param(
            {"limit": "5 a minute"},
            "parameter 'limit': '5 a minute' is not a rate; write it like '100/minute'",
            id="bad rate",
        ),
        pytest.param(
            {"limit": "5/minute", "algorithm": "token-bucket"},
            "parameter 'algorithm'",
            id="bad algorithm",
        ),
        pytest.param(
            {"limit": "5/minute", "key": "user", "key_func": f"{__name__}.api_key"},
            "give key ('user') or key_func",
            id="key and key_func",
        ),
        pytest.param(
            {"limit": "5/minute", "key_func": f"{__name__}.api_kye"},
            "key_func 'tests.middlewares.test_ratelimit.api_kye': module "
            "'tests.middlewares.test_ratelimit' has no attribute 'api_kye'. "
            "Did you mean 'api_key'?",
            id="key_func typo",
        ),
        pytest.param(
            {"limit": "5/minute", "key_func": f"{__name__}.PATH"},
            "key_func 'tests.middlewares.test_ratelimit.PATH' is a str, not a function",
            id="key_func not callable",
        ),
        pytest.param(
            {"rules": [{"path": "/api/*", "limit": "5/minute", "method": ["GET"]}]},
            "rules[0] has an unknown key 'method'; a rule takes 'path', 'limit', 'methods', "
            "'algorithm'. Did you mean 'methods'?",
            id="rule typo",
        ),
        pytest.param(
            {"rules": [{"path": "api/*", "limit": "5/minute"}]},
            "rules[0]: path: 'api/*' is not a path pattern; write a path starting with '/'",
            id="relative rule path",
        ),
        pytest.param(
            {"rules": [{"path": "/api/*/edit", "limit": "5/minute"}]},
            "'/api/*/edit' has a '*' that is not a trailing '/*'",
            id="inner star",
        ),
        pytest.param(
            {"rules": [{"path": "/login", "limit": "5/minit"}]},
            "rules[0]: '5/minit' has an unknown period 'minit'",
            id="rule rate",
        ),
        pytest.param(
            {"rules": [{"path": "/login"}]},
            "rules[0] has no 'limit'",
            id="rule without limit",
        ),
        pytest.param(
            {"limit": "5/minute", "exempt_paths": ["health"]},
            "exempt_paths[0]: 'health' is not a path pattern",
            id="relative exempt path",
        ),
        pytest.param(
            {"limit": "5/minute", "backend": "sqlite:///limits.db"},
            "RateLimitMiddleware: backend: The rate limits backend URL 'sqlite:///limits.db' "
            "is a database URL; rate limits need memory://",
            id="database backend",
        ),
    ],
)
def test_configuration_errors(
    app_factory: Callable[..., App], params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(MIDDLEWARES=[{"class": PATH, "params": params}])
    assert str(info.value).startswith(f"MIDDLEWARES[0] ({PATH!r}): ")
    assert message in str(info.value)


def test_a_bad_setting_is_named(app_factory: Callable[..., App]) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(
            MIDDLEWARES=[{"class": PATH, "params": {"limit": "1/second"}}],
            RATELIMIT_BACKEND="redis//localhost",
        )
    assert "RateLimitMiddleware: the RATELIMIT_BACKEND setting: " in str(info.value)


def test_rule_methods_must_be_a_list() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"methods must be a list, like \['GET'\]"):
        RateLimitMiddleware(rules=[{"path": "/", "limit": "1/second", "methods": "GET"}])  # type: ignore[typeddict-item]
