"""CSRFMiddleware: tokens, origins, exemptions, in cookie mode and session mode."""

from __future__ import annotations

import base64
import logging
import secrets
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import Signer, URLSafeTimedSerializer

from lback_mw import App, ImproperlyConfigured, Request, Response
from lback_mw.middlewares import csrf_exempt
from lback_mw.middlewares.csrf import (
    SESSION_KEY,
    SIGNING_SALT,
    CSRFMiddleware,
    current_csrf_token,
    rotate_csrf_token,
)
from lback_mw.middlewares.session import SIGNING_SALT as SESSION_SALT
from lback_mw.testing import TEST_SETTINGS, Client

KEY = TEST_SETTINGS["SECRET_KEY"]
CSRF = "lback_mw.middlewares.CSRFMiddleware"
SESSION = "lback_mw.middlewares.SessionMiddleware"
HTTPS = "https://localhost"


def build(
    app_factory: Callable[..., App],
    mode: str = "cookie",
    settings: dict[str, Any] | None = None,
    **params: Any,
) -> App:
    """An app with CSRFMiddleware(**params), behind SessionMiddleware in "session" mode."""
    chain: list[Any] = [{"class": CSRF, "params": params}]
    if mode == "session":
        chain.insert(0, SESSION)
    app = app_factory(settings or {}, MIDDLEWARES=chain)

    @app.route("/form")
    def form(request: Request) -> str:
        return request.csrf_token()  # type: ignore[no-any-return]

    @app.route("/submit", methods=["POST", "PUT", "PATCH", "DELETE", "GET"])
    def submit(request: Request) -> str:
        return "accepted"

    @app.route("/login", methods=["POST"])
    def login(request: Request) -> str:
        rotate_csrf_token(request)
        return "logged in"

    @app.route("/logout", methods=["POST"])
    def logout(request: Request) -> str:
        request.session.clear()
        return "logged out"

    @app.route("/hook", methods=["POST"])
    @csrf_exempt
    def hook(request: Request) -> bytes:
        return request.get_data()

    @app.route("/hooks/<int:number>", methods=["POST"])
    @csrf_exempt
    def numbered_hook(request: Request, number: int) -> str:
        return f"hook {number}"

    @app.route("/json", methods=["POST"])
    def json_view(request: Request) -> Any:
        return request.get_json()

    return app


@pytest.fixture(params=["cookie", "session"])
def mode(request: pytest.FixtureRequest) -> str:
    """Where the secret lives: the CSRF cookie, or request.session."""
    return str(request.param)


def token_from(client: Client, base_url: str = "http://localhost") -> str:
    response = client.get("/form", base_url=base_url)
    assert response.status_code == 200
    return response.text


def stored_secret(client: Client, mode: str) -> str:
    """The unmasked secret, read from the cookie the browser holds."""
    if mode == "cookie":
        cookie = client.get_cookie("csrftoken")
        assert cookie is not None
        return Signer(KEY, salt=SIGNING_SALT).unsign(cookie.value).decode()
    cookie = client.get_cookie("session")
    assert cookie is not None
    data = URLSafeTimedSerializer(KEY, salt=SESSION_SALT).loads(cookie.value)
    return str(data[SESSION_KEY])


def reason(response: Any) -> str:
    assert response.status_code == 403
    assert response.mimetype == "text/plain"
    text: str = response.text
    assert text.startswith("Forbidden: CSRF check failed: ")
    return text.removeprefix("Forbidden: CSRF check failed: ").rstrip(".\n")


# -- tokens -------------------------------------------------------------------------


def test_a_form_token_lets_the_post_through(app_factory, client_for, mode):
    client = client_for(build(app_factory, mode))
    token = token_from(client)
    response = client.post("/submit", data={"csrf_token": token})
    assert response.status_code == 200
    assert response.text == "accepted"


def test_the_header_token_lets_any_unsafe_method_through(app_factory, client_for, mode):
    client = client_for(build(app_factory, mode))
    token = token_from(client)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        refused = client.open("/submit", method=method)
        assert reason(refused) == "CSRF token missing"
        accepted = client.open("/submit", method=method, headers={"X-CSRF-Token": token})
        assert accepted.status_code == 200, method


def test_safe_methods_are_never_checked(app_factory, client_for, mode):
    app = build(app_factory, mode)
    client = client_for(app)
    for method in ("GET", "OPTIONS"):
        assert client.open("/submit", method=method).status_code == 200
    # Unlinted: werkzeug's linter counts the body a HEAD response leaves out.
    assert Client(app, use_cookies=False).head("/submit").status_code == 200


def test_no_secret_yet_is_refused(app_factory, client_for, mode):
    client = client_for(build(app_factory, mode))
    expected = {
        "cookie": "CSRF cookie not set",
        "session": "CSRF secret not found in the session",
    }[mode]
    assert reason(client.post("/submit", data={"csrf_token": "x" * 86})).startswith(expected)


def test_a_wrong_token_is_refused(app_factory, client_for, mode):
    client = client_for(build(app_factory, mode))
    token = token_from(client)
    other = token_from(client_for(build(app_factory, mode)))  # valid for someone else
    flipped = token[:50] + ("A" if token[50] != "A" else "B") + token[51:]
    for bad in (other, flipped, token[:-2], token + "AA", "é" * 86, "not a token"):
        assert reason(client.post("/submit", data={"csrf_token": bad})) == "CSRF token incorrect"


def test_the_unmasked_secret_replayed_as_a_token_is_refused(app_factory, client_for, mode):
    client = client_for(build(app_factory, mode))
    token = token_from(client)
    secret = stored_secret(client, mode)
    # The secret is what the token unmasks to: a token of an all-zero mask carries
    # it in the clear and is accepted, which proves `secret` is the real one...
    zero_mask = base64.urlsafe_b64encode(bytes(32) + base64.urlsafe_b64decode(secret + "="))
    clear_token = zero_mask.decode().rstrip("=")
    assert client.post("/submit", headers={"X-CSRF-Token": clear_token}).status_code == 200
    # ...yet the bare secret is no token.
    for replayed in (secret, secret + "=", secret * 2):
        response = client.post("/submit", headers={"X-CSRF-Token": replayed})
        assert reason(response) == "CSRF token incorrect"
    assert client.post("/submit", headers={"X-CSRF-Token": token}).status_code == 200


def test_masks_differ_per_response_but_all_validate(app_factory, client_for, mode):
    client = client_for(build(app_factory, mode))
    tokens = [token_from(client) for _ in range(4)]
    assert len(set(tokens)) == 4
    prefixes = {token[:43] for token in tokens}
    assert len(prefixes) == 4  # the masks themselves differ
    for token in tokens:
        assert client.post("/submit", data={"csrf_token": token}).status_code == 200


def test_the_form_field_is_read_from_multipart_bodies_too(app_factory, client_for, mode):
    client = client_for(build(app_factory, mode))
    token = token_from(client)
    response = client.post(
        "/submit", data={"csrf_token": token, "file": (b"contents", "a.txt")}
    )  # multipart/form-data, because of the file
    assert response.status_code == 200


def test_other_bodies_are_never_read_for_the_token(app_factory, client_for):
    client = client_for(build(app_factory))
    token = token_from(client)
    as_json = client.post("/json", json={"csrf_token": token})
    assert reason(as_json) == "CSRF token missing"
    as_text = client.post("/submit", data=f"csrf_token={token}", content_type="text/plain")
    assert reason(as_text) == "CSRF token missing"
    # With the header, the JSON body is still there for the view.
    ok = client.post("/json", json={"a": 1}, headers={"X-CSRF-Token": token})
    assert ok.json == {"a": 1}


def test_field_and_header_names_are_configurable(app_factory, client_for):
    app = build(app_factory, field_name="_token", header_name="X-XSRF-TOKEN")
    client = client_for(app)
    token = token_from(client)
    assert client.post("/submit", data={"_token": token}).status_code == 200
    assert client.post("/submit", headers={"X-XSRF-Token": token}).status_code == 200
    assert reason(client.post("/submit", data={"csrf_token": token})) == "CSRF token missing"


def test_a_json_client_gets_a_json_refusal(app_factory, client_for):
    client = client_for(build(app_factory))
    token_from(client)
    response = client.post("/submit", headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.json == {"error": "CSRF check failed", "reason": "CSRF token missing"}


def test_refusals_are_logged(app_factory, client_for, caplog):
    client = client_for(build(app_factory))
    with caplog.at_level(logging.WARNING, logger="lback_mw.middlewares.csrf"):
        client.post("/submit")
    assert "CSRF check failed: CSRF cookie not set" in caplog.text
    assert "POST /submit" in caplog.text


def test_rotating_the_secret_retires_old_tokens(app_factory, client_for, mode):
    client = client_for(build(app_factory, mode))
    before = token_from(client)
    secret_before = stored_secret(client, mode)
    assert client.post("/login", data={"csrf_token": before}).status_code == 200
    assert stored_secret(client, mode) != secret_before
    assert reason(client.post("/submit", data={"csrf_token": before})) == "CSRF token incorrect"
    after = token_from(client)
    assert client.post("/submit", data={"csrf_token": after}).status_code == 200


def test_rotate_outside_the_middleware_does_nothing(app_factory, client_for):
    app: App = app_factory()

    @app.route("/")
    def index(request: Request) -> str:
        rotate_csrf_token(request)
        return "ok"

    assert client_for(app).get("/").text == "ok"


def test_logout_in_session_mode_drops_the_secret(app_factory, client_for):
    client = client_for(build(app_factory, "session"))
    token = token_from(client)
    client.post("/logout", data={"csrf_token": token})
    refused = client.post("/submit", data={"csrf_token": token})
    assert reason(refused).startswith("CSRF secret not found in the session")


def test_session_mode_writes_no_csrf_cookie(app_factory, client_for):
    client = client_for(build(app_factory, "session"))
    response = client.get("/form")
    names = [header.partition("=")[0] for header in response.headers.getlist("Set-Cookie")]
    assert names == ["session"]
    assert response.headers["Vary"] == "Cookie"


def test_session_mode_with_a_server_side_store(app_factory, client_for):
    app = build(app_factory, "session", {"SESSION_BACKEND": "memory://"})
    client = client_for(app)
    token = token_from(client)
    assert client.post("/submit", data={"csrf_token": token}).status_code == 200
    assert reason(client.post("/submit", data={"csrf_token": "x"})) == "CSRF token incorrect"


def server_side_app(app_factory: Callable[..., App], redis_url: str) -> App:
    """CSRF behind server-side sessions in a real Redis, with a login that rotates."""
    app = build(app_factory, "session", {"SESSION_BACKEND": redis_url})

    @app.route("/sign-in", methods=["POST"])
    def sign_in(request: Request) -> str:
        request.session["user"] = "ada"
        request.session.rotate()
        rotate_csrf_token(request)
        return str(request.csrf_token())  # the page after login carries a token

    return app


def stored_keys(redis_url: str) -> int:
    import redis

    with redis.Redis.from_url(redis_url) as probe:
        return int(probe.dbsize())


def test_anonymous_form_pages_store_nothing_server_side(app_factory, client_for, redis_url):
    client = client_for(server_side_app(app_factory, redis_url))
    token = token_from(client)  # an anonymous visitor reads the login form
    assert client.get_cookie("csrftoken") is not None  # the secret travels in a cookie
    assert client.get_cookie("session") is None
    assert client.post("/submit", data={"csrf_token": token}).text == "accepted"
    assert stored_keys(redis_url) == 0


def test_the_session_adopts_the_secret_at_login(app_factory, client_for, redis_url):
    client = client_for(server_side_app(app_factory, redis_url))
    before = token_from(client)
    after = client.post("/sign-in", data={"csrf_token": before}).text
    assert stored_keys(redis_url) == 1  # the signed-in session, and nothing else
    # Rotated at login: the anonymous token is dead, the one on the page after
    # login (made before the session existed) works, and so do later ones.
    assert reason(client.post("/submit", data={"csrf_token": before})) == "CSRF token incorrect"
    assert client.post("/submit", data={"csrf_token": after}).text == "accepted"
    assert client.post("/submit", data={"csrf_token": token_from(client)}).text == "accepted"
    # From now on the secret lives in the session: the cookie is no longer written.
    response = client.get("/form")
    assert [h for h in response.headers.getlist("Set-Cookie") if "csrftoken" in h] == []


def test_logout_of_a_server_side_session_stores_nothing_new(app_factory, client_for, redis_url):
    client = client_for(server_side_app(app_factory, redis_url))
    client.post("/sign-in", data={"csrf_token": token_from(client)})
    token = token_from(client)
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 200
    login_form_token = token_from(client)  # the login form shown after logout
    assert stored_keys(redis_url) == 0
    assert client.post("/submit", data={"csrf_token": login_form_token}).text == "accepted"


def test_session_mode_with_an_unreachable_store_is_a_503(app_factory, client_for):
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = build(app_factory, "session", {"SESSION_BACKEND": f"redis://127.0.0.1:{port}/0"})
    client = client_for(app)
    client.set_cookie("session", "A" * 43)
    response = client.post("/submit", data={"csrf_token": "x" * 86})
    assert response.status_code == 503  # not a 403 that blames the user's token


# -- the cookie ------------------------------------------------------------------


def test_the_cookie_is_signed_http_only_and_lax(app_factory, client_for):
    client = client_for(build(app_factory))
    response = client.get("/form")
    [header] = response.headers.getlist("Set-Cookie")
    assert header.startswith("csrftoken=")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Max-Age=31449600" in header
    assert "Secure" not in header
    assert response.headers["Vary"] == "Cookie"
    [https] = client.get("/form", base_url=HTTPS).headers.getlist("Set-Cookie")
    assert "Secure" in https


def test_pages_without_a_token_set_no_cookie(app_factory, client_for):
    client = client_for(build(app_factory))
    response = client.get("/submit")
    assert response.headers.getlist("Set-Cookie") == []
    assert "Vary" not in response.headers


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="), id="unsigned"),
        pytest.param(
            Signer("another-key", salt=SIGNING_SALT).sign("A" * 43).decode(), id="other-key"
        ),
        pytest.param(Signer(KEY, salt=SIGNING_SALT).sign("short").decode(), id="bad-secret"),
        pytest.param("\xff\xfe", id="not-utf-8"),
    ],
)
def test_a_forged_cookie_holds_no_secret(app_factory, cookie):
    # An attacker who can plant cookies (a sibling subdomain) plants a known secret
    # and sends the matching token: the unsigned secret is not accepted.
    app = build(app_factory)
    zero_mask_token = base64.urlsafe_b64encode(bytes(64)).decode().rstrip("=")
    client = Client(app, lint=True, use_cookies=False)
    response = client.post(
        "/submit",
        headers={"Cookie": f"csrftoken={cookie}", "X-CSRF-Token": zero_mask_token},
    )
    assert reason(response) == "CSRF cookie not set"


def test_a_cookie_signed_with_a_fallback_key_is_accepted(app_factory, client_for):
    old, new = "the-old-secret-key-before-rotation", "the-new-secret-key-after-rotation!"
    before = client_for(build(app_factory, settings={"SECRET_KEY": old}))
    token = token_from(before)
    cookie = before.get_cookie("csrftoken")
    assert cookie is not None
    rotated = build(app_factory, settings={"SECRET_KEY": new, "SECRET_KEY_FALLBACKS": [old]})
    client = client_for(rotated)
    client.set_cookie("csrftoken", cookie.value)
    assert client.post("/submit", data={"csrf_token": token}).status_code == 200
    strict = client_for(build(app_factory, settings={"SECRET_KEY": new}))
    strict.set_cookie("csrftoken", cookie.value)
    assert reason(strict.post("/submit", data={"csrf_token": token})) == "CSRF cookie not set"


# -- origins ------------------------------------------------------------------------


def post_https(client: Client, token: str, **headers: str) -> Any:
    return client.post("/submit", base_url=HTTPS, data={"csrf_token": token}, headers=headers)


@pytest.fixture
def https_client(app_factory, client_for) -> tuple[Client, str]:
    client = client_for(
        build(
            app_factory,
            trusted_origins=["https://app.example.com", "https://*.partner.example:8443"],
        )
    )
    return client, token_from(client, HTTPS)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "https://localhost"}, id="same-origin"),
        pytest.param({"Origin": "https://LOCALHOST:443"}, id="same-origin-spelled-out"),
        pytest.param({"Referer": "https://localhost/form?x=1"}, id="same-site-referer"),
        pytest.param({"Origin": "https://app.example.com"}, id="trusted"),
        pytest.param({"Origin": "https://a.b.partner.example:8443"}, id="trusted-subdomain"),
        pytest.param({"Origin": "https://partner.example:8443"}, id="trusted-domain"),
        pytest.param({"Referer": "https://app.example.com/page"}, id="trusted-referer"),
    ],
)
def test_https_origins_that_pass(https_client, headers):
    client, token = https_client
    assert post_https(client, token, **headers).status_code == 200


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, "Referer missing on HTTPS", id="neither"),
        pytest.param(
            {"Origin": "https://evil.example"},
            "Origin 'https://evil.example' is not trusted",
            id="cross-origin",
        ),
        pytest.param({"Origin": "null"}, "Origin 'null' is not trusted", id="null"),
        pytest.param(
            {"Origin": "http://localhost"}, "Origin 'http://localhost' is not trusted", id="http"
        ),
        pytest.param(
            {"Origin": "https://localhost:8443"},
            "Origin 'https://localhost:8443' is not trusted",
            id="other-port",
        ),
        pytest.param(
            {"Origin": "https://evil.example", "Referer": "https://localhost/"},
            "Origin 'https://evil.example' is not trusted",
            id="origin-wins-over-referer",
        ),
        pytest.param(
            {"Origin": "https://evilpartner.example:8443"},
            "Origin 'https://evilpartner.example:8443' is not trusted",
            id="wildcard-is-not-a-suffix",
        ),
        pytest.param(
            {"Origin": "https://a.partner.example"},
            "Origin 'https://a.partner.example' is not trusted",
            id="wildcard-port",
        ),
        pytest.param(
            {"Origin": "http://app.example.com"},
            "Origin 'http://app.example.com' is not trusted",
            id="trusted-host-other-scheme",
        ),
        pytest.param(
            {"Referer": "http://localhost/form"},
            "Referer 'http://localhost/form' is not HTTPS while the request is",
            id="insecure-referer",
        ),
        pytest.param(
            {"Referer": "https://evil.example/x"},
            "Referer 'https://evil.example/x' is not trusted",
            id="cross-site-referer",
        ),
        pytest.param(
            {"Referer": "not a url"}, "Referer 'not a url' is not trusted", id="junk-referer"
        ),
    ],
)
def test_https_origins_that_fail(https_client, headers, expected):
    client, token = https_client
    assert reason(post_https(client, token, **headers)) == expected


def test_plain_http_checks_origin_only_when_sent(app_factory, client_for):
    client = client_for(build(app_factory))
    token = token_from(client)
    assert client.post("/submit", data={"csrf_token": token}).status_code == 200
    cross = client.post(
        "/submit", data={"csrf_token": token}, headers={"Origin": "http://evil.example"}
    )
    assert reason(cross) == "Origin 'http://evil.example' is not trusted"


def test_the_origin_check_comes_before_the_token(https_client):
    client, _ = https_client
    response = post_https(client, "wrong", Origin="https://evil.example")
    assert reason(response) == "Origin 'https://evil.example' is not trusted"


def test_trusted_origins_come_from_settings(app_factory, client_for):
    app = build(app_factory, settings={"CSRF_TRUSTED_ORIGINS": ["https://*.example.com"]})
    client = client_for(app)
    token = token_from(client, HTTPS)
    assert post_https(client, token, Origin="https://shop.example.com").status_code == 200
    assert reason(post_https(client, token, Origin="https://example.org")).endswith("not trusted")


# -- exemptions ---------------------------------------------------------------------


def test_exempt_paths(app_factory, client_for):
    app = build(
        app_factory, exempt_paths=["/webhooks/*", "/health", "/api/v<int:v>/public/<path:rest>"]
    )

    @app.route("/<path:anything>", methods=["POST"])
    def anything(request: Request, anything: str) -> str:
        return anything

    client = client_for(app)
    for path in ("/webhooks/stripe", "/webhooks", "/health", "/api/v2/public/x"):
        assert client.post(path).status_code == 200, path
    for path in ("/webhooksmith", "/healthz", "/health/deep", "/api/vX/public/x"):
        assert reason(client.post(path)) == "CSRF cookie not set", path


def test_the_csrf_exempt_decorator(app_factory, client_for):
    client = client_for(build(app_factory))
    assert client.post("/hook").status_code == 200
    assert client.post("/hooks/7").text == "hook 7"  # a rule with a converter
    assert reason(client.post("/submit")) == "CSRF cookie not set"
    # No view, so no check (Django's way): the client learns it is a 404, nothing more.
    assert client.post("/nowhere").status_code == 404


def test_an_exempt_view_gets_the_raw_form_body(app_factory, client_for):
    # Webhooks verify a signature over the raw body; it must not be parsed away.
    client = client_for(build(app_factory))
    response = client.post("/hook", data={"event": "paid", "amount": "3"})
    assert response.data == b"event=paid&amount=3"


def test_an_exempt_view_skips_the_origin_check_too(app_factory, client_for):
    client = client_for(build(app_factory))
    assert client.post("/hook", base_url=HTTPS).status_code == 200


# -- templates ----------------------------------------------------------------------


def test_csrf_token_in_a_template(app_factory, client_for, tmp_path: Path, mode):
    (tmp_path / "form.html").write_text(
        '<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">'
    )
    app = build(app_factory, mode, {"TEMPLATE_DIRS": [str(tmp_path)]})
    renderer = app.dependencies.resolve("template_renderer")

    @app.route("/page")
    def page(request: Request) -> Response:
        return renderer.render_response("form.html")  # type: ignore[no-any-return]

    client = client_for(app)
    html = client.get("/page").text
    token = html.split('value="')[1].split('"')[0]
    assert len(token) == 86
    assert client.post("/submit", data={"csrf_token": token}).status_code == 200


def test_csrf_token_outside_a_request_says_why():
    with pytest.raises(RuntimeError, match="outside a request that CSRFMiddleware let through"):
        current_csrf_token()


def test_csrf_token_is_not_left_behind_after_the_request(app_factory, client_for):
    client = client_for(build(app_factory))
    token_from(client)
    with pytest.raises(RuntimeError):
        current_csrf_token()


# -- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"trusted_origins": ["example.com"]}, "is not an origin", id="no-scheme"),
        pytest.param(
            {"trusted_origins": ["https://example.com/app"]}, "is not an origin", id="path"
        ),
        pytest.param({"trusted_origins": ["*"]}, "is not an origin", id="star"),
        pytest.param({"trusted_origins": ["https://*"]}, "is not an origin", id="star-host"),
        pytest.param({"exempt_paths": ["webhooks"]}, "is not a path pattern", id="p"),
        pytest.param(
            {"exempt_paths": ["^/api/"]}, "is a regular expression; exempt_paths takes", id="re"
        ),
        pytest.param(
            {"exempt_paths": ["/webhooks/"]}, "Write '/webhooks/*'", id="old prefix spelling"
        ),
        pytest.param({"exempt_paths": ["/a*"]}, "Did you mean '/a/*'?", id="inner star"),
        pytest.param({"cookie_samesite": "None"}, "needs cookie_secure=True", id="samesite"),
        pytest.param({"cookie_max_age": -1}, "cookie_max_age must be a positive", id="max-age"),
        pytest.param({"field_name": ""}, "field_name must not be empty", id="field"),
    ],
)
def test_bad_configuration_is_refused_at_start_up(app_factory, params, message):
    with pytest.raises(ImproperlyConfigured, match="CSRFMiddleware") as info:
        build(app_factory, **params)
    assert message in str(info.value)


def test_an_empty_secret_key_is_refused(app_factory):
    with pytest.raises(ImproperlyConfigured, match="CSRFMiddleware: SECRET_KEY is empty"):
        build(app_factory, settings={"SECRET_KEY": "", "DEBUG": True})


def test_the_middleware_can_be_built_directly():
    middleware = CSRFMiddleware(secret_key="k" * 40, trusted_origins=["https://a.example"])
    assert middleware.cookie_name == "csrftoken"


@pytest.mark.parametrize("length", [0, 1, 2, 3, 31, 32, 33, 64])
def test_tokens_and_secrets_are_encoded_as_itsdangerous_does(length: int) -> None:
    import itsdangerous

    from lback_mw.middlewares import csrf

    for raw in (bytes(length), bytes([255]) * length, secrets.token_bytes(length)):
        assert csrf._encode(raw) == itsdangerous.base64_encode(raw).decode("ascii")
        if length == csrf._SECRET_BYTES:
            assert csrf._decode_secret(csrf._encode(raw)) == raw
