"""CORSMiddleware: preflights, actual requests, Vary, errors, and start-up validation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lback_mw import App, ImproperlyConfigured, Response
from lback_mw.middlewares.cors import CORSMiddleware
from lback_mw.testing import Client

APP = "https://app.example.com"
EVIL = "https://evil.example"

AppFactory = Callable[..., App]
ClientFor = Callable[[App], Client]


@pytest.fixture
def make(app_factory: AppFactory, client_for: ClientFor) -> Callable[..., Client]:
    """``make(allow_origins=[...], ...)``: a client over an app with CORS and a few views."""

    def build(**params: Any) -> Client:
        app = app_factory(
            MIDDLEWARES=[{"class": "lback_mw.middlewares.CORSMiddleware", "params": params}]
        )

        @app.route("/items", methods=["GET", "POST", "PUT"])
        def items(request: Any) -> Any:
            return {"method": request.method}

        @app.route("/vary")
        def vary(request: Any) -> Response:
            return Response("hi", headers={"Vary": "Accept-Encoding"})

        @app.route("/own-cors")
        def own_cors(request: Any) -> Response:
            return Response("public", headers={"Access-Control-Allow-Origin": "*"})

        @app.route("/boom")
        def boom(request: Any) -> Any:
            raise RuntimeError("view failed")

        @app.route("/explicit-options", methods=["OPTIONS"])
        def explicit_options(request: Any) -> Any:
            return "view saw OPTIONS"

        return client_for(app)

    return build


def preflight(
    client: Client,
    origin: str,
    method: str = "PUT",
    headers: str | None = None,
    path: str = "/items",
) -> Any:
    sent = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=sent)


PREFLIGHT_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


# --- preflight -----------------------------------------------------------------


def test_preflight_allowed(make: Callable[..., Client]) -> None:
    client = make(
        allow_origins=[APP],
        allow_methods=["PUT", "DELETE"],
        allow_headers=["X-Token"],
        allow_credentials=True,
    )
    response = preflight(client, APP, "PUT", "x-token, Content-Type")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert response.headers["Access-Control-Allow-Methods"] == "DELETE, GET, HEAD, POST, PUT"
    # What was asked, echoed (content-type is safelisted, so always allowed).
    assert response.headers["Access-Control-Allow-Headers"] == "x-token, content-type"
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Vary"] == PREFLIGHT_VARY
    assert response.data == b""  # the view never ran


def test_preflight_without_requested_headers_lists_the_configured_ones(
    make: Callable[..., Client],
) -> None:
    client = make(allow_origins=[APP], allow_headers=["X-Token", "X-Trace"])
    response = preflight(client, APP, "POST")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Headers"] == "X-Token, X-Trace"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_preflight_refuses_an_unknown_origin(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP], allow_methods="*", allow_headers="*")
    response = preflight(client, EVIL, "GET")
    assert response.status_code == 400
    assert response.mimetype == "text/plain"
    assert response.text == "CORS preflight refused: origin 'https://evil.example' is not allowed"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert response.headers["Vary"] == PREFLIGHT_VARY


def test_preflight_refuses_an_unlisted_method(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP], allow_methods=["PUT"])
    response = preflight(client, APP, "DELETE")
    assert response.status_code == 400
    assert response.text == "CORS preflight refused: method 'DELETE' is not allowed"
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_method_case_gets_a_hint(make: Callable[..., Client]) -> None:
    # fetch(url, {method: "patch"}) sends "patch" as is; browsers then compare exactly.
    response = preflight(make(allow_origins=[APP], allow_methods=["PATCH"]), APP, "patch")
    assert response.status_code == 400
    assert "method 'patch' is not allowed" in response.text
    assert "write 'PATCH' in fetch()" in response.text


def test_safelisted_methods_are_always_allowed(make: Callable[..., Client]) -> None:
    response = preflight(make(allow_origins=[APP], allow_methods=["DELETE"]), APP, "POST")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Methods"] == "DELETE, GET, HEAD, POST"


def test_preflight_refuses_unlisted_headers_naming_them(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP], allow_headers=["X-Token"])
    response = preflight(client, APP, "GET", "X-TOKEN,x-secret, x-other")
    assert response.status_code == 400
    assert response.text == (
        "CORS preflight refused: headers 'x-secret', 'x-other' are not allowed"
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    response = preflight(client, APP, "GET", "x-secret")
    assert response.text == "CORS preflight refused: header 'x-secret' is not allowed"


def test_wildcard_methods_and_headers_echo_the_request(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP], allow_methods="*", allow_headers="*", allow_credentials=True)
    response = preflight(client, APP, "PURGE", "X-Anything, x-else")
    assert response.status_code == 200
    # Echoed, not "*": with credentials a browser reads "*" as a literal name.
    assert response.headers["Access-Control-Allow-Methods"] == "PURGE"
    assert response.headers["Access-Control-Allow-Headers"] == "x-anything, x-else"
    response = preflight(client, APP, "GET")
    assert "Access-Control-Allow-Headers" not in response.headers


def test_preflight_is_answered_for_any_path(make: Callable[..., Client]) -> None:
    response = preflight(make(allow_origins=[APP]), APP, "GET", path="/no/such/page")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == APP


def test_max_age_none_is_omitted(make: Callable[..., Client]) -> None:
    response = preflight(make(allow_origins=[APP], max_age=None), APP, "GET")
    assert response.status_code == 200
    assert "Access-Control-Max-Age" not in response.headers
    response = preflight(make(allow_origins=[APP], max_age="0"), APP, "GET")
    assert response.headers["Access-Control-Max-Age"] == "0"


def test_options_without_request_method_reaches_the_router(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP])
    response = client.options("/items", headers={"Origin": APP})
    assert response.status_code == 200
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST, PUT"
    assert response.headers["Access-Control-Allow-Origin"] == APP
    response = client.options("/explicit-options", headers={"Origin": APP})
    assert response.text == "view saw OPTIONS"


# --- actual requests -----------------------------------------------------------


def test_allowed_origin_is_echoed(make: Callable[..., Client]) -> None:
    client = make(
        allow_origins=[APP, "http://localhost:3000"],
        allow_credentials=True,
        expose_headers=["X-Request-ID", "Content-Range"],
    )
    response = client.put("/items", headers={"Origin": APP})
    assert response.json == {"method": "PUT"}
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Expose-Headers"] == "X-Request-ID, Content-Range"
    assert response.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Methods" not in response.headers  # preflight-only
    response = client.get("/items", headers={"Origin": "http://localhost:3000"})
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


def test_disallowed_origin_gets_no_cors_headers_but_vary(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP], allow_credentials=True, expose_headers=["X-A"])
    response = client.get("/items", headers={"Origin": EVIL})
    assert response.status_code == 200  # CORS is not access control: the view still ran
    assert not [name for name, _ in response.headers if name.startswith("Access-Control-")]
    assert response.headers["Vary"] == "Origin"


def test_vary_is_merged_with_the_views(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP])
    response = client.get("/vary", headers={"Origin": APP})
    assert response.headers.getlist("Vary") == ["Accept-Encoding, Origin"]
    response = client.get("/vary", headers={"Origin": EVIL})
    assert response.headers.getlist("Vary") == ["Accept-Encoding, Origin"]


def test_requests_without_origin_get_no_cors_headers_but_vary(
    make: Callable[..., Client],
) -> None:
    client = make(allow_origins=[APP], allow_credentials=True, expose_headers=["X-A"])
    for response in (client.get("/items"), client.get("/vary"), client.options("/items")):
        assert not [n for n, _ in response.headers if n.startswith("Access-Control-")]
    # A cached copy of this answer must not serve a later cross-origin fetch.
    assert client.get("/items").headers["Vary"] == "Origin"
    assert client.get("/vary").headers["Vary"] == "Accept-Encoding, Origin"
    # With "*" every answer carries the same "*", so there is nothing to vary on.
    anyone = make(allow_origins="*")
    response = anyone.get("/items")
    assert "Vary" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    # Access-Control-Request-Method without Origin is not a preflight either.
    response = client.options("/items", headers={"Access-Control-Request-Method": "PUT"})
    assert response.headers["Allow"] == "GET, HEAD, OPTIONS, POST, PUT"


def test_error_responses_carry_cors_headers(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP], allow_credentials=True)
    for path, status in (("/missing", 404), ("/boom", 500)):
        response = client.get(path, headers={"Origin": APP})
        assert response.status_code == status
        assert response.headers["Access-Control-Allow-Origin"] == APP
        assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert response.headers["Vary"] == "Origin"
    response = client.delete("/items", headers={"Origin": APP})
    assert response.status_code == 405
    assert response.headers["Access-Control-Allow-Origin"] == APP


def test_nothing_leaks_between_requests(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP], allow_credentials=True)
    assert client.get("/items", headers={"Origin": APP}).headers["Access-Control-Allow-Origin"]
    second = client.get("/items", headers={"Origin": EVIL})
    assert "Access-Control-Allow-Origin" not in second.headers
    assert "Access-Control-Allow-Credentials" not in second.headers
    assert preflight(client, APP, "GET").status_code == 200
    assert "Access-Control-Allow-Origin" not in preflight(client, EVIL, "GET").headers


def test_a_views_own_cors_headers_are_kept(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP], allow_credentials=True)
    response = client.get("/own-cors", headers={"Origin": APP})
    assert response.headers.getlist("Access-Control-Allow-Origin") == ["*"]
    # Nothing added that would contradict the view (credentials with "*" is invalid).
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Vary" not in response.headers


def test_star_sends_a_literal_star_without_vary(make: Callable[..., Client]) -> None:
    client = make(allow_origins="*", expose_headers=["X-A"])
    for origin in (APP, EVIL, "null"):
        response = client.get("/items", headers={"Origin": origin})
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert response.headers["Access-Control-Expose-Headers"] == "X-A"
        assert "Vary" not in response.headers  # the same answer for every origin
    response = preflight(client, EVIL, "GET")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    # Without Origin too: a cached copy is then right for every caller.
    assert client.get("/items").headers["Access-Control-Allow-Origin"] == "*"


# --- which origins match ---------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://a.example.org", True),
        ("https://a-b.example.org", True),
        ("https://evil.com.example.org", False),  # "." is not in the host class
        ("https://a.example.org.evil.com", False),  # a full match, not a prefix match
        ("https://a.example.org:8443", False),
        ("http://a.example.org", False),
        ("xhttps://a.example.org", False),
        ("null", False),
        (APP, True),
    ],
)
def test_regex_must_match_the_whole_origin(
    make: Callable[..., Client], origin: str, allowed: bool
) -> None:
    client = make(allow_origins=[APP], allow_origin_regex=r"https://[a-z0-9-]+\.example\.org")
    response = client.get("/items", headers={"Origin": origin})
    assert ("Access-Control-Allow-Origin" in response.headers) is allowed
    assert preflight(client, origin, "GET").status_code == (200 if allowed else 400)


def test_regex_is_not_searched(make: Callable[..., Client]) -> None:
    client = make(allow_origin_regex=r"https://.*\.example\.com")
    assert (
        "Access-Control-Allow-Origin"
        in client.get("/items", headers={"Origin": "https://a.example.com"}).headers
    )
    response = client.get("/items", headers={"Origin": "https://a.example.com.evil.com"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_null_origin_only_when_listed(make: Callable[..., Client]) -> None:
    client = make(allow_origins=[APP, "null"])
    assert (
        client.get("/items", headers={"Origin": "null"}).headers["Access-Control-Allow-Origin"]
        == "null"
    )
    client = make(allow_origins=[APP], allow_origin_regex=".*")
    assert (
        "Access-Control-Allow-Origin"
        not in client.get("/items", headers={"Origin": "null"}).headers
    )


def test_configured_origins_are_normalised() -> None:
    cors = CORSMiddleware(allow_origins="HTTPS://App.Example.com, http://[::1]:8000")
    assert cors.is_allowed_origin(APP)
    assert cors.is_allowed_origin("http://[::1]:8000")
    assert not cors.is_allowed_origin("https://App.Example.com")  # browsers send lower case


def test_origins_from_the_setting(make: Callable[..., Client], app_factory: AppFactory) -> None:
    app = app_factory(
        CORS_ALLOW_ORIGINS=[APP], MIDDLEWARES=["lback_mw.middlewares.cors.CORSMiddleware"]
    )
    app.route("/")(lambda request: "hi")
    response = Client(app, lint=True).get("/", headers={"Origin": APP})
    assert response.headers["Access-Control-Allow-Origin"] == APP
    # params win over the setting
    app = app_factory(
        CORS_ALLOW_ORIGINS=[APP],
        MIDDLEWARES=[{"class": CORSMiddleware, "params": {"allow_origins": [EVIL]}}],
    )
    app.route("/")(lambda request: "hi")
    response = Client(app, lint=True).get("/", headers={"Origin": APP})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_the_setting_is_declared(app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    # A Settings field: the environment's list rule applies, and a wrong type is
    # refused naming the setting before any middleware is built.
    monkeypatch.setenv("LBACK_CORS_ALLOW_ORIGINS", f"{APP}, {EVIL}")
    assert app_factory().settings.CORS_ALLOW_ORIGINS == [APP, EVIL]
    monkeypatch.delenv("LBACK_CORS_ALLOW_ORIGINS")
    with pytest.raises(ImproperlyConfigured, match="CORS_ALLOW_ORIGINS: Input should be a"):
        app_factory(CORS_ALLOW_ORIGINS=5, MIDDLEWARES=[CORSMiddleware])


def test_an_empty_list_turns_cors_off(app_factory: AppFactory) -> None:
    app = app_factory(CORS_ALLOW_ORIGINS=[], MIDDLEWARES=[CORSMiddleware])
    assert not app.chain
    assert "allow_origins is empty" in app.skipped_middleware[0].reason


# --- start-up validation ----------------------------------------------------------


def config_error(app_factory: AppFactory, **params: Any) -> str:
    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(MIDDLEWARES=[{"class": CORSMiddleware, "params": params}])
    return str(info.value)


def test_star_with_credentials_is_refused(app_factory: AppFactory) -> None:
    message = config_error(app_factory, allow_origins=["*"], allow_credentials=True)
    assert message.startswith("MIDDLEWARES[0] ")
    assert "allow_origins='*' cannot be combined with allow_credentials=True" in message
    assert "List the origins" in message
    assert "allow_origin_regex" in message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        # Any site can send "Origin: null" from a sandboxed iframe.
        ({"allow_origins": [APP, "null"]}, "allow_origins lists 'null' together with"),
        # A catch-all regex is "*" by another name, but would be echoed with cookies.
        ({"allow_origin_regex": ".*"}, "allow_origin_regex '.*' matches 'https://attacker"),
        ({"allow_origin_regex": r"http://[^/]+"}, "matches 'http://attacker.invalid'"),
    ],
)
def test_other_open_doors_with_credentials_are_refused(
    app_factory: AppFactory, params: dict[str, Any], message: str
) -> None:
    assert message in config_error(app_factory, allow_credentials=True, **params)
    app_factory(MIDDLEWARES=[{"class": CORSMiddleware, "params": params}])  # fine without


def test_a_regex_for_ones_own_sites_is_fine_with_credentials(make: Callable[..., Client]) -> None:
    client = make(allow_origin_regex=r"https://[a-z0-9-]+\.example\.com", allow_credentials=True)
    response = client.get("/items", headers={"Origin": APP})
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


@pytest.mark.parametrize(
    ("origin", "problem", "suggestion"),
    [
        ("https://app.example.com/", "ends with a slash", APP),
        ("https://app.example.com/api", "has a path", APP),
        ("app.example.com", "has no scheme", APP),
        ("https://app.example.com:443", "default port 443", APP),
        ("http://localhost:3000/", "ends with a slash", "http://localhost:3000"),
        # Browsers send IPv6 origins compressed: a full form would never match.
        (
            "http://[1851:0000:3238:DEF1:0177:0000:0000:0125]:8080",
            "not written the way browsers send origins",
            "http://[1851:0:3238:def1:177::125]:8080",
        ),
        ("http://[::ffff:127.0.0.1]", "not written the way", "http://[::ffff:7f00:1]"),
    ],
)
def test_origin_mistakes_get_a_did_you_mean(
    app_factory: AppFactory, origin: str, problem: str, suggestion: str
) -> None:
    message = config_error(app_factory, allow_origins=[origin])
    assert f"allow_origins entry {origin!r}" in message
    assert problem in message
    assert f"Did you mean {suggestion!r}?" in message


def test_other_configuration_errors(app_factory: AppFactory) -> None:
    message = config_error(app_factory, allow_origins=["https://*.example.com"])
    assert "wildcards do not work inside an origin. Use allow_origin_regex" in message
    assert "not an http(s) origin" in config_error(app_factory, allow_origins=["ftp://x.org"])
    assert "does not compile" in config_error(app_factory, allow_origin_regex="https://(")
    assert "would never be consulted" in config_error(app_factory, allow_origins=["*", APP])
    assert "'X-A, X-B' is not a valid name" in config_error(
        app_factory, allow_origins=[APP], allow_headers=["X-A, X-B"]
    )
    assert "expose_headers='*'" in config_error(
        app_factory, allow_origins=[APP], allow_credentials=True, expose_headers="*"
    )
    assert "max_age must be" in config_error(app_factory, allow_origins=[APP], max_age=-1)
    message = config_error(app_factory)
    assert "no origin is allowed" in message
    assert "CORS_ALLOW_ORIGINS" in message
