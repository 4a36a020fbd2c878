"""SecurityHeadersMiddleware: defaults, opt-outs, HSTS, error responses, configuration errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.exceptions import NotFound

from lback_mw import App, ImproperlyConfigured, Response
from lback_mw.testing import Client

Factory = Callable[..., App]
ClientFor = Callable[[App], Client]

SECURITY = "lback_mw.middlewares.SecurityHeadersMiddleware"
PROXY_FIX = {"class": "werkzeug.middleware.proxy_fix.ProxyFix", "params": {"x_proto": 1}}
DEFAULTS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def build(app_factory: Factory, params: dict[str, Any] | None = None, **settings: Any) -> App:
    app = app_factory(MIDDLEWARES=[{"class": SECURITY, "params": params or {}}], **settings)

    @app.route("/")
    def index(request: Any) -> str:
        return "ok"

    @app.route("/framed")
    def framed(request: Any) -> Response:
        return Response("ok", headers={"x-frame-options": "SAMEORIGIN"})

    @app.route("/crash")
    def crash(request: Any) -> str:
        raise RuntimeError("boom")

    @app.route("/gone")
    def gone(request: Any) -> str:
        raise NotFound()

    @app.route("/stream")
    def stream(request: Any) -> Response:
        def chunks() -> Iterator[bytes]:
            yield b"one,"
            yield b"two"

        return Response(chunks(), mimetype="text/plain")

    return app


def test_defaults(app_factory: Factory, client_for: ClientFor) -> None:
    response = client_for(build(app_factory)).get("/")
    assert response.status_code == 200
    assert {name: response.headers.get(name) for name in DEFAULTS} == DEFAULTS
    for absent in ("Content-Security-Policy", "Permissions-Policy", "Strict-Transport-Security"):
        assert absent not in response.headers


@pytest.mark.parametrize("path", ["/no/such/page", "/gone", "/crash"])
def test_error_responses_get_the_headers(
    app_factory: Factory, client_for: ClientFor, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    response = client_for(build(app_factory, {"hsts": True})).get(
        path, base_url="https://example.com"
    )
    assert response.status_code == (500 if path == "/crash" else 404)
    assert {name: response.headers.get(name) for name in DEFAULTS} == DEFAULTS
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_header_set_by_the_view_is_kept(app_factory: Factory, client_for: ClientFor) -> None:
    response = client_for(build(app_factory)).get("/framed")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_streamed_body_passes_untouched(app_factory: Factory, client_for: ClientFor) -> None:
    response = client_for(build(app_factory)).get("/stream")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.text == "one,two"


def test_every_default_can_be_turned_off(app_factory: Factory, client_for: ClientFor) -> None:
    params = {
        "content_type_nosniff": False,
        "x_frame_options": None,
        "referrer_policy": None,
        "cross_origin_opener_policy": None,
    }
    response = client_for(build(app_factory, params)).get("/")
    assert not set(DEFAULTS) & set(response.headers.keys())


def test_optional_and_extra_headers(app_factory: Factory, client_for: ClientFor) -> None:
    params = {
        "x_frame_options": "SAMEORIGIN",
        "content_security_policy": "default-src 'self'",
        "permissions_policy": "geolocation=(), camera=()",
        "headers": {"Cross-Origin-Resource-Policy": "same-site", "X-Robots-Tag": "noindex"},
    }
    headers = client_for(build(app_factory, params)).get("/").headers
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers["Content-Security-Policy"] == "default-src 'self'"
    assert headers["Permissions-Policy"] == "geolocation=(), camera=()"
    assert headers["Cross-Origin-Resource-Policy"] == "same-site"
    assert headers["X-Robots-Tag"] == "noindex"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"hsts": True}, "max-age=31536000"),
        ({"hsts": 3600}, "max-age=3600"),
        ({"hsts": "86400"}, "max-age=86400"),  # from YAML or the environment
        ({"hsts": 0}, "max-age=0"),
        ({"hsts": True, "hsts_include_subdomains": True}, "max-age=31536000; includeSubDomains"),
        (
            {"hsts": 63072000, "hsts_include_subdomains": True, "hsts_preload": True},
            "max-age=63072000; includeSubDomains; preload",
        ),
    ],
)
def test_hsts_on_secure_requests(
    app_factory: Factory, client_for: ClientFor, params: dict[str, Any], expected: str
) -> None:
    client = client_for(build(app_factory, params))
    assert client.get("/", base_url="https://example.com").headers["Strict-Transport-Security"] == (
        expected
    )
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_hsts_ignores_a_raw_forwarded_proto(app_factory: Factory, client_for: ClientFor) -> None:
    response = client_for(build(app_factory, {"hsts": True})).get(
        "/", headers={"X-Forwarded-Proto": "https"}
    )
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_trusts_proxy_fix(app_factory: Factory, client_for: ClientFor) -> None:
    client = client_for(build(app_factory, {"hsts": True}, WSGI_MIDDLEWARES=[PROXY_FIX]))
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client.get("/").headers


def test_hsts_set_by_the_view_is_kept(app_factory: Factory, client_for: ClientFor) -> None:
    app = app_factory(MIDDLEWARES=[{"class": SECURITY, "params": {"hsts": True}}])
    app.route("/")(lambda request: ("ok", 200, {"Strict-Transport-Security": "max-age=60"}))
    response = client_for(app).get("/", base_url="https://example.com")
    assert response.headers.getlist("Strict-Transport-Security") == ["max-age=60"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hsts": -1}, "hsts=-1 is negative"),
        ({"hsts_preload": True}, "hsts_preload is set but hsts is off"),
        ({"hsts_include_subdomains": True}, "hsts_include_subdomains is set but hsts is off"),
        (
            {"hsts": True, "hsts_preload": True},
            "hsts_preload=True needs hsts_include_subdomains=True and a max-age of at least "
            "31536000 (one year); got hsts_include_subdomains=False and max-age 31536000",
        ),
        (
            {"hsts": 86400, "hsts_include_subdomains": True, "hsts_preload": True},
            "got hsts_include_subdomains=True and max-age 86400",
        ),
        (
            {"x_frame_options": "DENY\r\nSet-Cookie: a=b"},
            "x_frame_options = 'DENY\\r\\nSet-Cookie: a=b' contains '\\r'",
        ),
        ({"content_security_policy": "default-src \u2018self\u2019"}, "contains '\u2018'"),
        ({"referrer_policy": ""}, "referrer_policy is empty. To leave Referrer-Policy out, set"),
        ({"headers": {"X Robots": "noindex"}}, "headers['X Robots']: 'X Robots' is not a valid"),
        ({"headers": {"X-Robots-Tag:": "noindex"}}, "'X-Robots-Tag:' is not a valid header name"),
        ({"headers": {"X-Empty": " "}}, "headers['X-Empty'] is empty"),
        ({"headers": {"X-Evil": "a\nb"}}, "contains '\\n'"),
        (
            {"headers": {"X-Robots-Tag": "noindex", "x-robots-tag": "none"}},
            "headers has both 'X-Robots-Tag' and 'x-robots-tag'; header names are "
            "case-insensitive, so keep one.",
        ),
        (
            {"headers": {"x-frame-options": "SAMEORIGIN"}},
            "headers={'x-frame-options': ...} duplicates the 'x_frame_options' parameter. "
            "Set X-Frame-Options with x_frame_options=... instead.",
        ),
        (
            {"headers": {"Strict-Transport-Security": "max-age=1"}},
            "duplicates the 'hsts' parameter. Set Strict-Transport-Security with hsts=... instead "
            "(HSTS is only sent on secure requests).",
        ),
    ],
)
def test_configuration_errors(app_factory: Factory, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        app_factory(MIDDLEWARES=[{"class": SECURITY, "params": params}])
    text = str(caught.value)
    assert text.startswith(f"MIDDLEWARES[0] ({SECURITY!r}): SecurityHeadersMiddleware: ")
    assert message in text


def test_hsts_type_is_checked_by_the_loader(app_factory: Factory) -> None:
    with pytest.raises(ImproperlyConfigured, match="hsts"):
        app_factory(MIDDLEWARES=[{"class": SECURITY, "params": {"hsts": "lots"}}])
