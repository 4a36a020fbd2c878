"""CSRFMiddleware's start-up checks at their edges, and a Cookie header without the
CSRF cookie: what test_csrf.py's matrices stop short of."""

from __future__ import annotations

import pytest

from lback_mw import ImproperlyConfigured
from lback_mw.middlewares.csrf import CSRFMiddleware
from lback_mw.testing import Client
from tests.middlewares import test_csrf as base

KEY = "k" * 40


@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("ftp://files.example.com", id="not-http"),
        pytest.param("https://", id="no-host"),
        pytest.param("https://:8443", id="port-only"),
        pytest.param("https://example.com:99999", id="port-out-of-range"),
        pytest.param("https://example.com/app/", id="path"),
        pytest.param("https://*.*.example.com", id="two-wildcards"),
        pytest.param("https://exam*ple.com", id="star-inside"),
    ],
)
def test_a_trusted_origin_that_is_not_an_origin_is_refused(origin: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        CSRFMiddleware(secret_key=KEY, trusted_origins=["https://ok.example", origin])
    assert str(info.value).startswith(
        f"CSRFMiddleware: trusted origin {origin!r} (CSRF_TRUSTED_ORIGINS) is not an origin. "
        "Write the scheme, the host and any port"
    )


@pytest.mark.parametrize(
    ("trusted", "origin"),
    [
        pytest.param("https://example.com/", "https://example.com", id="trailing-slash"),
        pytest.param("HTTPS://Example.COM", "https://example.com", id="case"),
        pytest.param("https://example.com:8443", "https://example.com:8443", id="port"),
        pytest.param("http://example.com", "http://example.com:80", id="default-port"),
        pytest.param("https://*.example.com", "https://a.example.com", id="wildcard"),
    ],
)
def test_a_trusted_origin_lets_its_requests_past_the_origin_check(
    app_factory, client_for, trusted: str, origin: str
) -> None:
    client: Client = client_for(base.build(app_factory, trusted_origins=[trusted]))
    token = base.token_from(client)
    response = client.post("/submit", data={"csrf_token": token}, headers={"Origin": origin})
    assert response.status_code == 200


@pytest.mark.parametrize("max_age", [0, -5])
def test_a_cookie_max_age_below_one_second_is_refused(max_age: int) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        CSRFMiddleware(secret_key=KEY, cookie_max_age=max_age)
    assert str(info.value) == (
        "CSRFMiddleware: cookie_max_age must be a positive number of seconds, or None for a "
        f"cookie that ends with the browser session; got {max_age}."
    )


@pytest.mark.parametrize(
    ("max_age", "expected"),
    [pytest.param(1, "Max-Age=1;", id="one-second"), pytest.param(None, None, id="none")],
)
def test_cookie_max_age_reaches_the_cookie(
    app_factory, client_for, max_age: int | None, expected: str | None
) -> None:
    client = client_for(base.build(app_factory, cookie_max_age=max_age))
    [header] = client.get("/form").headers.getlist("Set-Cookie")
    assert header.startswith("csrftoken=")
    if expected is None:
        assert "Max-Age" not in header
        assert "Expires" not in header
    else:
        assert expected in header


@pytest.mark.parametrize(
    "cookie_header",
    [
        pytest.param("sessionid=abc; theme=dark", id="other-cookies"),
        pytest.param("csrftoken_old=abc", id="similar-name"),
        pytest.param("csrftoken=", id="empty-value"),
        pytest.param("csrftoken=not-signed", id="unsigned"),
    ],
)
def test_a_cookie_header_without_a_valid_csrf_cookie_is_cookie_not_set(
    app_factory, cookie_header: str
) -> None:
    app = base.build(app_factory)
    client = Client(app, lint=True, use_cookies=False)
    response = client.post(
        "/submit", data={"csrf_token": "x" * 64}, headers={"Cookie": cookie_header}
    )
    assert base.reason(response) == "CSRF cookie not set"


def test_the_default_cookie_lasts_the_documented_year(app_factory, client_for) -> None:
    [header] = client_for(base.build(app_factory)).get("/form").headers.getlist("Set-Cookie")
    assert "Max-Age=31449600;" in header  # docs/middlewares/csrf.md: 31449600, a year


def test_a_bare_middleware_trusts_no_other_origin(app_factory, client_for) -> None:
    app = app_factory(MIDDLEWARES=[])
    app.use(CSRFMiddleware(secret_key=KEY))
    app.route("/form", endpoint="form")(lambda request: request.csrf_token())
    app.route("/submit", methods=["POST"], endpoint="submit")(lambda request: "accepted")
    client: Client = client_for(app)
    token = client.get("/form").text
    assert client.post("/submit", data={"csrf_token": token}).status_code == 200
    cross = client.post(
        "/submit", data={"csrf_token": token}, headers={"Origin": "https://ok.example"}
    )
    assert base.reason(cross) == "Origin 'https://ok.example' is not trusted"


def test_the_header_token_wins_over_the_form_field(app_factory, client_for) -> None:
    client = client_for(base.build(app_factory))
    token = base.token_from(client)
    response = client.post("/submit", data={"csrf_token": "wrong"}, headers={"X-CSRF-Token": token})
    assert response.status_code == 200
