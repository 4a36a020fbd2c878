"""The example project: a notes app on the built-in middleware, driven through the real app.

Every request goes through the whole chain of ``example_project/settings.py``
with a linted client that keeps cookies, like a browser. The database is a
SQLite file in ``tmp_path`` (the ``database`` fixture), never the repository's.
"""

from __future__ import annotations

import gzip
import importlib
import logging
import re
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from werkzeug.test import TestResponse

import example_project
from lback_mw import App, create_app
from lback_mw.checks import RECOMMENDED_ORDER, check_app
from lback_mw.cli import cli
from lback_mw.database import database_url
from lback_mw.settings import load_settings
from lback_mw.testing import Client

EXAMPLE_DIR = Path(example_project.__file__).resolve().parent
SETTINGS_MODULE = "example_project.settings"
SETTINGS_YAML = str(EXAMPLE_DIR / "settings.yaml")
HEADER_VALUE = "lback_mw example project"
DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"
API_LIMIT = 60
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')

settings_sources = pytest.mark.parametrize(
    "source",
    [
        pytest.param(SETTINGS_MODULE, id="settings.py"),
        pytest.param(SETTINGS_YAML, id="settings.yaml"),
    ],
)


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point DATABASE_URL at a file in tmp_path, so no test writes into the repository."""
    path = tmp_path / "example.sqlite3"
    monkeypatch.setenv("LBACK_DATABASE_URL", f"sqlite:///{path}")
    return path


@pytest.fixture
def app(database: Path) -> Iterator[App]:
    # settings.yaml builds the same app (first test below), so requests use one source.
    app = create_app(SETTINGS_MODULE)
    yield app
    app.close()


@pytest.fixture
def client(app: App) -> Client:
    return Client(app, lint=True)


@pytest.fixture
def signed_in(client: Client) -> Client:
    """The client, signed in as the demo user."""
    assert sign_in(client).status_code == 303
    return client


def chain_of(app: App) -> list[tuple[Any, ...]]:
    return [
        (layer.label, layer.path, layer.style, layer.hooks, layer.params, layer.injected)
        for layer in app.configured_middleware
    ]


def routes_of(app: App) -> list[tuple[str, str | None, list[str]]]:
    return [(rule.rule, rule.endpoint, sorted(rule.methods or ())) for rule in app.router.rules()]


def json_of(response: TestResponse) -> Any:
    data = response.json
    assert data is not None, "expected a JSON response"
    return data


def csrf_token(client: Client, path: str = "/login") -> str:
    """The token of the form on ``path``, as a browser would submit it."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    match = CSRF_FIELD.search(page.text)
    assert match is not None, f"no CSRF field on {path}"
    return match[1]


def sign_in(
    client: Client, username: str = DEMO_USER, password: str = DEMO_PASSWORD, next: str = ""
) -> TestResponse:
    form = {"username": username, "password": password, "next": next}
    return client.post("/login", data={**form, "csrf_token": csrf_token(client)})


def sign_up(client: Client, username: str, password: str = "a long password") -> TestResponse:
    form = {"username": username, "password": password}
    return client.post("/signup", data={**form, "csrf_token": csrf_token(client, "/signup")})


def add_note(client: Client, text: str) -> TestResponse:
    return client.post("/notes", data={"text": text, "csrf_token": csrf_token(client, "/notes")})


def session_cookie(client: Client) -> str | None:
    cookie = client.get_cookie("session")
    return None if cookie is None else cookie.value


def notes_on_page(client: Client) -> list[str]:
    page = client.get("/notes")
    assert page.status_code == 200
    return re.findall(r"<li>(.*?)</li>", page.text)


def rows(database: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(database)) as connection:
        return connection.execute(sql).fetchall()


# -- configuration -------------------------------------------------------------


def test_settings_py_and_yaml_build_the_same_app(database: Path) -> None:
    from_module = create_app(SETTINGS_MODULE)
    from_yaml = create_app(SETTINGS_YAML)
    try:
        assert chain_of(from_module) == chain_of(from_yaml)
        assert routes_of(from_module) == routes_of(from_yaml)
        assert from_module.settings.model_dump() == from_yaml.settings.model_dump()
        assert from_module.settings.BASE_DIR == EXAMPLE_DIR
        assert from_module.skipped_middleware == from_yaml.skipped_middleware == []
    finally:
        from_module.close()
        from_yaml.close()


def test_chain_follows_the_recommended_order(app: App) -> None:
    roles = [getattr(layer.instance, "ordering_role", None) for layer in app.configured_middleware]
    # The https redirect needs https, which the development server does not speak;
    # tracing needs the tracing extra, and the example runs on a plain install.
    left_out = {"https_redirect", "tracing"}
    assert [role for role in roles if role is not None] == [
        role for role in RECOMMENDED_ORDER if role not in left_out
    ]
    # The project's own middleware has no role: it may sit anywhere.
    assert roles.count(None) == 1
    assert [warning.id for warning in check_app(app)] == ["lback.W003"]


def test_settings_module_uses_both_entry_forms() -> None:
    settings = importlib.import_module(SETTINGS_MODULE)
    forms = {type(entry) for entry in settings.MIDDLEWARES}
    assert forms == {str, dict}
    dicts = [entry for entry in settings.MIDDLEWARES if isinstance(entry, dict)]
    assert all(set(entry) == {"class", "params"} for entry in dicts)


def test_routes_come_from_the_routes_module(app: App) -> None:
    assert {rule.rule for rule in app.router.rules()} == {
        "/",
        "/login",
        "/signup",
        "/logout",
        "/notes",
        "/api/notes",
        "/health",
    }


def test_health_checks_leave_no_access_log_line(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # routes.py switches the access log off for /health (exclude_middleware) only.
    with caplog.at_level(logging.INFO, logger="lback_mw.access"):
        health = client.get("/health")
        client.get("/login")
    assert (health.status_code, health.json) == (200, {"status": "ok"})
    assert health.headers["X-Content-Type-Options"] == "nosniff"  # the rest still ran
    lines = [record.getMessage() for record in caplog.records if record.name == "lback_mw.access"]
    assert len(lines) == 1
    assert '"GET /login ' in lines[0]


def test_api_answers_are_never_cached_but_pages_may_be(signed_in: Client) -> None:
    # The route's own middleware (routes.py) runs for /api/notes only.
    assert signed_in.get("/api/notes").headers["Cache-Control"] == "no-store"
    assert "no-store" not in signed_in.get("/notes").headers.get("Cache-Control", "")


def test_wsgi_module_exposes_a_built_app(database: Path) -> None:
    sys.modules.pop("example_project.wsgi", None)
    wsgi = importlib.import_module("example_project.wsgi")
    try:
        assert isinstance(wsgi.app, App)
        assert chain_of(wsgi.app)[0][1] == "lback_mw.middlewares.MetricsMiddleware"
        assert Client(wsgi.app, lint=True).get("/").status_code == 200
    finally:
        wsgi.app.close()
        sys.modules.pop("example_project.wsgi", None)


def test_default_database_is_a_sqlite_file_in_base_dir() -> None:
    settings = load_settings(SETTINGS_MODULE)
    assert settings.DATABASE_URL is None
    assert database_url(settings.DATABASE_URL, settings.BASE_DIR) == (
        f"sqlite:///{EXAMPLE_DIR / 'db.sqlite3'}"
    )


def test_start_up_creates_the_tables_and_the_demo_user(app: App, database: Path) -> None:
    tables = rows(database, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    assert tables == [("notes",), ("users",)]
    [(username, password_hash)] = rows(database, "SELECT username, password_hash FROM users")
    assert username == DEMO_USER
    assert password_hash.startswith("scrypt:")
    assert DEMO_PASSWORD not in password_hash

    # Building the app again (a restart) keeps the one demo user.
    create_app(SETTINGS_MODULE).close()
    assert rows(database, "SELECT count(*) FROM users") == [(1,)]


# -- signing in and out ----------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login_page(client: Client) -> None:
    response = client.get("/notes")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fnotes"
    # An API client gets a 401 problem document instead.
    response = client.get("/api/notes")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param(DEMO_USER, "wrong password", id="wrong-password"),
        pytest.param("nobody", DEMO_PASSWORD, id="unknown-user"),
    ],
)
def test_a_wrong_login_is_refused(client: Client, username: str, password: str) -> None:
    response = sign_in(client, username, password)
    assert response.status_code == 200
    assert "Wrong username or password." in response.text
    assert client.get("/notes").status_code == 302  # still nobody in the session


def test_login_rotates_the_session_and_goes_to_next(client: Client) -> None:
    token = csrf_token(client)
    before = session_cookie(client)
    assert before is not None  # the anonymous session holds the CSRF secret
    form = {"username": DEMO_USER, "password": DEMO_PASSWORD, "next": "/notes?page=1"}
    response = client.post("/login", data={**form, "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/notes?page=1"
    after = session_cookie(client)
    assert after is not None
    assert after != before

    page = client.get("/notes")
    assert page.status_code == 200
    assert "Signed in as <strong>demo</strong>" in page.text
    # The token handed out before login no longer works (a new CSRF secret).
    stale = client.post("/notes", data={"text": "x", "csrf_token": token})
    assert stale.status_code == 403


def test_login_never_redirects_to_another_site(client: Client) -> None:
    response = sign_in(client, next="https://evil.example/phish")
    assert response.status_code == 303
    assert response.headers["Location"] == "/notes"


def test_post_without_csrf_token_is_refused(client: Client) -> None:
    response = client.post("/login", data={"username": DEMO_USER, "password": DEMO_PASSWORD})
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert client.get("/notes").status_code == 302


def test_logout_needs_a_post_with_its_token_and_clears_the_session(signed_in: Client) -> None:
    assert signed_in.get("/logout").status_code == 405
    assert signed_in.post("/logout").status_code == 403
    assert signed_in.get("/notes").status_code == 200  # still signed in

    response = signed_in.post("/logout", data={"csrf_token": csrf_token(signed_in, "/notes")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert "session=;" in response.headers["Set-Cookie"]
    assert session_cookie(signed_in) is None
    assert signed_in.get("/notes").status_code == 302


def test_sign_up_creates_an_account_and_signs_it_in(client: Client, database: Path) -> None:
    response = sign_up(client, "Grace")
    assert response.status_code == 303
    assert response.headers["Location"] == "/notes"
    assert "Signed in as <strong>grace</strong>" in client.get("/notes").text
    [(password_hash,)] = rows(database, "SELECT password_hash FROM users WHERE username='grace'")
    assert password_hash.startswith("scrypt:")


def test_sign_in_and_sign_up_with_the_access_log_on(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    # `lback-mw run` logs lback_mw.access at INFO: the log line reads the user that
    # the view loaded from request.db, after SQLAlchemySessionMiddleware committed
    # and closed that session (issue 8 item 1: DetachedInstanceError, a 500).
    caplog.set_level(logging.INFO, logger="lback_mw.access")
    assert sign_in(client).status_code == 303
    assert sign_up(client, "ada").status_code == 303
    assert "Signed in as <strong>ada</strong>" in client.get("/notes").text
    access = [record for record in caplog.records if record.name == "lback_mw.access"]
    users = [record.__dict__["http"]["user"] for record in access]
    assert "demo" in users
    assert "ada" in users


@pytest.mark.parametrize(
    ("username", "password", "error"),
    [
        pytest.param(DEMO_USER, "a long password", "That username is taken.", id="taken"),
        pytest.param("grace", "short", "at least 8 characters", id="short-password"),
        pytest.param("<b>", "a long password", "A username is 3 to 40", id="bad-name"),
    ],
)
def test_sign_up_refuses(
    client: Client, database: Path, username: str, password: str, error: str
) -> None:
    response = sign_up(client, username, password)
    assert response.status_code == 200
    assert error in response.text
    assert rows(database, "SELECT username FROM users") == [(DEMO_USER,)]


# -- notes -----------------------------------------------------------------------


def test_a_note_is_stored_and_shown_escaped(signed_in: Client, database: Path) -> None:
    assert notes_on_page(signed_in) == []
    response = add_note(signed_in, "<b>buy milk</b>")
    assert response.status_code == 303
    assert response.headers["Location"] == "/notes"
    assert notes_on_page(signed_in) == ["&lt;b&gt;buy milk&lt;/b&gt;"]
    assert rows(database, "SELECT owner_id, text FROM notes") == [(1, "<b>buy milk</b>")]


def test_users_see_only_their_own_notes(signed_in: Client, app: App) -> None:
    add_note(signed_in, "demo's secret")
    other = Client(app, lint=True)
    sign_up(other, "grace")
    assert notes_on_page(other) == []
    assert json_of(other.get("/api/notes"))["notes"] == []
    add_note(other, "grace's note")

    assert notes_on_page(signed_in) == ["demo&#39;s secret"]
    assert notes_on_page(other) == ["grace&#39;s note"]
    assert [note["text"] for note in json_of(other.get("/api/notes"))["notes"]] == ["grace's note"]


def test_api_lists_and_creates_notes_with_a_csrf_header(signed_in: Client) -> None:
    listed = json_of(signed_in.get("/api/notes"))
    assert listed["notes"] == []
    token = listed["csrf_token"]

    assert signed_in.post("/api/notes", json={"text": "from a script"}).status_code == 403
    created = signed_in.post(
        "/api/notes", json={"text": "from a script"}, headers={"X-CSRF-Token": token}
    )
    assert created.status_code == 201
    note = json_of(created)
    assert note["text"] == "from a script"
    assert note["created_at"]

    bad = signed_in.post("/api/notes", json={"note": "wrong key"}, headers={"X-CSRF-Token": token})
    assert bad.status_code == 400
    assert json_of(bad) == {"error": "send a JSON object with a 'text' string"}
    assert [n["id"] for n in json_of(signed_in.get("/api/notes"))["notes"]] == [note["id"]]


def test_api_is_rate_limited(signed_in: Client) -> None:
    responses = [signed_in.get("/api/notes") for _ in range(API_LIMIT + 1)]
    assert [r.status_code for r in responses] == [200] * API_LIMIT + [429]
    first, last_allowed, refused = responses[0], responses[-2], responses[-1]
    assert first.headers["RateLimit-Limit"] == str(API_LIMIT)
    assert first.headers["RateLimit-Remaining"] == str(API_LIMIT - 1)
    assert last_allowed.headers["RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.mimetype == "application/problem+json"
    # The limit is the API's: pages are not counted against it.
    assert signed_in.get("/notes").status_code == 200
    assert "RateLimit-Limit" not in signed_in.get("/notes").headers


# -- HTTP middleware -------------------------------------------------------------


def test_static_css_is_served_with_revalidation(client: Client) -> None:
    response = client.get("/static/css/site.css")
    assert response.status_code == 200
    assert response.mimetype == "text/css"
    assert "font-family" in response.text
    assert response.headers["Cache-Control"] == "no-cache"
    assert "Set-Cookie" not in response.headers  # served before the session is loaded
    etag = response.headers["ETag"]

    again = client.get("/static/css/site.css", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert client.get("/static/../settings.py").status_code == 404
    # The page links it under STATIC_URL, which the CSP allows ('self').
    assert '<link rel="stylesheet" href="/static/css/site.css">' in client.get("/").text


@pytest.mark.parametrize("path", ["/", "/no/such/page"])
def test_every_response_carries_the_http_middleware_headers(client: Client, path: str) -> None:
    response = client.get(path, headers={"X-Request-ID": "req-42"})
    assert response.status_code == (200 if path == "/" else 404)
    headers = response.headers
    assert headers["X-Request-ID"] == "req-42"
    assert re.fullmatch(r"app;dur=\d+\.\d+", headers["Server-Timing"])
    assert headers["X-Response-Time"].endswith("ms")
    assert headers["X-App-Name"] == HEADER_VALUE
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Content-Security-Policy"].startswith("default-src 'self';")
    assert "Strict-Transport-Security" not in headers  # plain http
    assert re.fullmatch(r"[0-9a-f]{32}", client.get(path).headers["X-Request-ID"])


def test_metrics_count_requests_by_route(client: Client) -> None:
    client.get("/login")
    client.get("/no-such-page")
    scrape = client.get("/metrics")
    assert scrape.status_code == 200
    text = scrape.text
    assert 'http_requests_total{method="GET",route="/login",status="200"} 1.0' in text
    assert 'route="<unmatched>",status="404"} 1.0' in text


def test_an_unknown_host_is_refused(client: Client) -> None:
    response = client.get("/", headers={"Host": "evil.example"})
    assert response.status_code == 400
    assert response.headers["X-Frame-Options"] == "DENY"  # security headers sit outside


def test_cors_lets_the_front_end_dev_server_call_the_api(client: Client) -> None:
    preflight = {
        "Origin": "http://localhost:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-csrf-token",
    }
    response = client.options("/api/notes", headers=preflight)
    assert response.status_code in (200, 204)  # answered before authentication
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"

    evil = client.options("/api/notes", headers={**preflight, "Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in evil.headers


def test_big_pages_are_gzipped(client: Client) -> None:
    plain = client.get("/login")
    assert len(plain.data) > 500  # CompressionMiddleware's minimum_size
    response = client.get("/login", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert b"<h1>Sign in</h1>" in gzip.decompress(response.data)


# -- environment overrides -----------------------------------------------------


@settings_sources
def test_custom_header_value_comes_from_the_environment(
    source: str, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBACK_APP_CUSTOM_HEADER", "from the environment")
    app = create_app(source)
    try:
        response = Client(app, lint=True).get("/")
        assert response.headers["X-App-Name"] == "from the environment"
    finally:
        app.close()


def test_empty_custom_header_setting_leaves_the_middleware_out(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBACK_APP_CUSTOM_HEADER", "")
    app = create_app(SETTINGS_MODULE)
    try:
        [skipped] = app.skipped_middleware
        assert skipped.path == "example_project.middlewares.CustomHeaderMiddleware"
        assert skipped.reason == "APP_CUSTOM_HEADER is empty"
        response = Client(app, lint=True).get("/")
        assert "X-App-Name" not in response.headers
        assert "X-Request-ID" in response.headers
    finally:
        app.close()


def test_production_settings_from_the_environment(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBACK_DEBUG", "0")
    monkeypatch.setenv("LBACK_SECRET_KEY", "a-long-random-production-secret-key-from-env")
    monkeypatch.setenv("LBACK_CORS_ALLOW_ORIGINS", "")
    app = create_app(SETTINGS_MODULE)
    try:
        assert app.settings.DEBUG is False
        assert app.settings.SECRET_KEY == "a-long-random-production-secret-key-from-env"
        # No demo account with a public password in production; CORS is off.
        assert rows(database, "SELECT count(*) FROM users") == [(0,)]
        assert [layer.path for layer in app.skipped_middleware] == [
            "lback_mw.middlewares.CORSMiddleware"
        ]
        assert sign_in(Client(app, lint=True)).status_code == 200  # refused
    finally:
        app.close()


# -- the command line ------------------------------------------------------------


@settings_sources
def test_lback_mw_check_passes_with_only_the_debug_warning(source: str, database: Path) -> None:
    result = CliRunner().invoke(cli, ["check", "--settings", source])
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines() if "WARNING" in line] == [
        "WARNING lback.W003"
    ]


@settings_sources
def test_example_settings_are_production_clean_with_the_environment(
    source: str, database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBACK_DEBUG", "false")
    monkeypatch.setenv("LBACK_SECRET_KEY", "x" * 50)
    result = CliRunner().invoke(cli, ["check", "--fail-on-warning", "--settings", source])
    assert result.exit_code == 0, result.output
    assert "no warnings" in result.output
