"""HTTPSRedirectMiddleware: the Location, the status, what counts as secure, exemptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lback_mw import App, ImproperlyConfigured, Request
from lback_mw.testing import Client

Factory = Callable[..., App]
ClientFor = Callable[[App], Client]

REDIRECT = "lback_mw.middlewares.https_redirect.HTTPSRedirectMiddleware"
PROXY_FIX = {"class": "werkzeug.middleware.proxy_fix.ProxyFix", "params": {"x_proto": 1}}


def build(app_factory: Factory, params: dict[str, Any] | None = None, **settings: Any) -> App:
    app = app_factory(MIDDLEWARES=[{"class": REDIRECT, "params": params or {}}], **settings)

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def echo(request: Request, path: str) -> str:
        return f"{request.scheme}:{path}"

    return app


@pytest.mark.parametrize(
    ("base_url", "path", "location"),
    [
        ("http://example.com", "/", "https://example.com/"),
        ("http://example.com:80", "/x", "https://example.com/x"),
        ("http://example.com:443", "/x", "https://example.com/x"),
        ("http://example.com:8080", "/x", "https://example.com:8080/x"),
        ("http://[::1]:8000", "/x", "https://[::1]:8000/x"),
        # percent-encoded path and query come back exactly as sent
        (
            "http://example.com",
            "/caf%C3%A9/a%20b%25c%3F%23?q=a%20b&next=%2Fhome%3Fx%3D1&e=%C3%A9&flag",
            "https://example.com/caf%C3%A9/a%20b%25c%3F%23?q=a%20b&next=%2Fhome%3Fx%3D1&e=%C3%A9&flag",
        ),
        ("http://example.com", "/a;b=c/@:!$&'()*+,=", "https://example.com/a;b=c/@:!$&'()*+,="),
        # mounted under a SCRIPT_NAME: the prefix is kept
        ("http://example.com/mount", "/x?y=1", "https://example.com/mount/x?y=1"),
    ],
)
def test_location(
    app_factory: Factory, client_for: ClientFor, base_url: str, path: str, location: str
) -> None:
    response = client_for(build(app_factory)).get(path, base_url=base_url)
    assert response.status_code == 307
    assert response.headers["Location"] == location


def test_a_path_that_is_not_utf8_keeps_its_bytes(
    app_factory: Factory, client_for: ClientFor
) -> None:
    # PEP 3333: PATH_INFO holds the bytes as latin-1. werkzeug's request.path decodes
    # them as UTF-8 with replacement, which would redirect to /caf%EF%BF%BD.
    response = client_for(build(app_factory)).get(
        "/", query_string="q=%E9", environ_overrides={"PATH_INFO": "/caf\xe9"}
    )
    assert response.headers["Location"] == "https://localhost/caf%E9?q=%E9"


def test_an_encoded_slash_survives_when_the_server_gives_the_raw_target(
    app_factory: Factory, client_for: ClientFor
) -> None:
    # werkzeug's test client, like its server and gunicorn, sets RAW_URI.
    response = client_for(build(app_factory)).get("/files/a%2Fb")
    assert response.headers["Location"] == "https://localhost/files/a%2Fb"


def test_permanent_answers_308_and_keeps_the_method(
    app_factory: Factory, client_for: ClientFor
) -> None:
    client = client_for(build(app_factory, {"permanent": True}))
    response = client.post("/form", data={"a": "1"})
    assert response.status_code == 308
    assert response.headers["Location"] == "https://localhost/form"


def test_secure_requests_pass(app_factory: Factory, client_for: ClientFor) -> None:
    response = client_for(build(app_factory)).get("/x", base_url="https://example.com")
    assert (response.status_code, response.text) == (200, "https:x")


def test_raw_forwarded_proto_is_ignored(app_factory: Factory, client_for: ClientFor) -> None:
    response = client_for(build(app_factory)).get("/x", headers={"X-Forwarded-Proto": "https"})
    assert response.status_code == 307
    assert response.headers["Location"] == "https://localhost/x"


def test_forwarded_proto_through_proxy_fix(app_factory: Factory, client_for: ClientFor) -> None:
    client = client_for(build(app_factory, WSGI_MIDDLEWARES=[PROXY_FIX]))
    response = client.get("/x", headers={"X-Forwarded-Proto": "https"})
    assert (response.status_code, response.text) == (200, "https:x")
    response = client.get("/x", headers={"X-Forwarded-Proto": "http"})
    assert response.status_code == 307


def test_exempt_paths(app_factory: Factory, client_for: ClientFor) -> None:
    client = client_for(build(app_factory, {"exempt_paths": ["/health", "/.well-known/acme/*"]}))
    assert client.get("/health").text == "http:health"
    assert client.get("/.well-known/acme").status_code == 200
    assert client.get("/.well-known/acme/token").status_code == 200
    assert client.get("/.well-known/other").status_code == 307
    assert client.get("/").status_code == 307


@pytest.mark.parametrize("path", ["/healthcheck-admin", "/healthz", "/health/db", "/health%0A"])
def test_an_exact_exempt_path_exempts_nothing_else(
    app_factory: Factory, client_for: ClientFor, path: str
) -> None:
    # A plain string prefix let "/health" exempt "/healthcheck-admin" from https.
    client = client_for(build(app_factory, {"exempt_paths": ["/health"]}))
    assert client.get(path).status_code == 307


def test_invalid_host_is_refused_not_redirected(
    app_factory: Factory, client_for: ClientFor
) -> None:
    response = client_for(build(app_factory)).get(
        "/", environ_overrides={"HTTP_HOST": "evil.com/@x"}
    )
    assert (response.status_code, response.text) == (400, "Invalid host header")
    assert "Location" not in response.headers


def test_redirect_carries_security_headers_and_trusts_the_host_check(
    app_factory: Factory, client_for: ClientFor
) -> None:
    app = app_factory(
        MIDDLEWARES=[
            "lback_mw.middlewares.SecurityHeadersMiddleware",
            {
                "class": "lback_mw.middlewares.TrustedHostMiddleware",
                "params": {"allowed_hosts": ["example.com"]},
            },
            REDIRECT,
        ]
    )
    client = client_for(app)
    response = client.get("/x", base_url="http://example.com")
    assert response.status_code == 307
    assert response.headers["X-Frame-Options"] == "DENY"
    # A forged host never reaches the redirect, so it cannot become an open redirect.
    response = client.get("/x", base_url="http://evil.com")
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("paths", "message"),
    [
        (
            ["/ok", "health"],
            "HTTPSRedirectMiddleware: exempt_paths[1]: 'health' is not a path pattern; write "
            "a path starting with '/', like '/health', '/api/*' or '/users/<int:id>'.",
        ),
        (
            ["/.well-known/"],
            "HTTPSRedirectMiddleware: exempt_paths[0]: '/.well-known/' ends with '/', which "
            "used to mean everything under it. Write '/.well-known/*' (that path and "
            "everything under it).",
        ),
    ],
)
def test_exempt_paths_errors(app_factory: Factory, paths: list[str], message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        build(app_factory, {"exempt_paths": paths})
    assert str(caught.value) == f"MIDDLEWARES[0] ({REDIRECT!r}): {message}"
