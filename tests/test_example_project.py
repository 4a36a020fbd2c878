"""The example project works, and its two settings files describe the same app."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import example_project
from lback_mw import App, create_app
from lback_mw.cli import cli
from lback_mw.database import database_url
from lback_mw.testing import Client

EXAMPLE_DIR = Path(example_project.__file__).resolve().parent
SETTINGS_MODULE = "example_project.settings"
SETTINGS_YAML = str(EXAMPLE_DIR / "settings.yaml")
HEADER_VALUE = "lback_mw example project"
RESPONSE_TIME = re.compile(r"^\d+\.\d{2}ms$")

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


@pytest.fixture(
    params=[
        pytest.param(SETTINGS_MODULE, id="settings.py"),
        pytest.param(SETTINGS_YAML, id="settings.yaml"),
    ]
)
def app(request: pytest.FixtureRequest, database: Path) -> Iterator[App]:
    app = create_app(request.param)
    yield app
    app.close()


@pytest.fixture
def client(app: App) -> Client:
    return Client(app, lint=True)


def chain_of(app: App) -> list[tuple[Any, ...]]:
    return [
        (layer.label, layer.path, layer.style, layer.hooks, layer.params, layer.injected)
        for layer in app.configured_middleware
    ]


def routes_of(app: App) -> list[tuple[str, str | None, list[str]]]:
    return [(rule.rule, rule.endpoint, sorted(rule.methods or ())) for rule in app.router.rules()]


def json_of(response: Any) -> Any:
    data = response.json
    assert data is not None, "expected a JSON response"
    return data


def assert_example_headers(response: Any, value: str = HEADER_VALUE) -> None:
    assert RESPONSE_TIME.match(response.headers["X-Response-Time"])
    assert response.headers["X-App-Name"] == value


# -- configuration -------------------------------------------------------------


def test_settings_py_and_yaml_build_the_same_app(database: Path) -> None:
    from_module = create_app(SETTINGS_MODULE)
    from_yaml = create_app(SETTINGS_YAML)
    try:
        assert chain_of(from_module) == chain_of(from_yaml)
        assert routes_of(from_module) == routes_of(from_yaml)
        assert from_module.settings.model_dump() == from_yaml.settings.model_dump()
        assert from_module.settings.BASE_DIR == EXAMPLE_DIR
    finally:
        from_module.close()
        from_yaml.close()


@settings_sources
def test_chain_is_timer_then_custom_header(source: str) -> None:
    app = create_app(source)
    assert chain_of(app) == [
        (
            "MIDDLEWARES[0]",
            "example_project.middlewares.TimerMiddleware",
            "hooks",
            ("process_request", "process_response"),
            {},
            [],
        ),
        (
            "MIDDLEWARES[1]",
            "example_project.middlewares.CustomHeaderMiddleware",
            "hooks",
            ("process_response",),
            {"header": "X-App-Name"},
            ["config"],
        ),
    ]
    assert app.skipped_middleware == []


def test_settings_module_uses_both_entry_forms() -> None:
    settings = importlib.import_module(SETTINGS_MODULE)
    first, second = settings.MIDDLEWARES
    assert isinstance(first, str)
    assert isinstance(second, dict)
    assert set(second) == {"class", "params"}


@settings_sources
def test_routes_come_from_the_routes_module(source: str) -> None:
    app = create_app(source)
    assert {rule.rule for rule in app.router.rules()} == {
        "/",
        "/api/status",
        "/notes",
        "/api/notes",
    }


def test_wsgi_module_exposes_a_built_app() -> None:
    wsgi = importlib.import_module("example_project.wsgi")
    assert isinstance(wsgi.application, App)
    assert [layer.path for layer in wsgi.application.configured_middleware] == [
        "example_project.middlewares.TimerMiddleware",
        "example_project.middlewares.CustomHeaderMiddleware",
    ]


# -- requests ------------------------------------------------------------------


def test_json_route(client: Client) -> None:
    response = client.get("/api/status", buffered=True)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.json == {
        "app": HEADER_VALUE,
        "debug": True,
        "middlewares": [
            "example_project.middlewares.TimerMiddleware",
            "example_project.middlewares.CustomHeaderMiddleware",
        ],
        "routes": ["/", "/api/notes", "/api/status", "/notes"],
    }
    assert_example_headers(response)


def test_html_route_renders_the_template(client: Client) -> None:
    response = client.get("/", buffered=True)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "<h1>Hello, world!</h1>" in response.text
    assert "<nav>" in response.text  # from base.html, which index.html extends
    assert_example_headers(response)


def test_html_route_escapes_user_input(client: Client) -> None:
    response = client.get("/", query_string={"name": "<script>alert(1)</script>"}, buffered=True)
    assert "<h1>Hello, &lt;script&gt;alert(1)&lt;/script&gt;!</h1>" in response.text
    assert "<script>" not in response.text


def test_json_notes_are_stored_in_the_configured_database(client: Client, database: Path) -> None:
    assert client.get("/api/notes", buffered=True).json == {"notes": []}
    created = client.post("/api/notes", json={"text": "first note"}, buffered=True)
    assert created.status_code == 201
    assert json_of(created)["id"] == 1
    assert json_of(created)["text"] == "first note"
    assert_example_headers(created)

    listed = client.get("/api/notes", buffered=True)
    assert [note["text"] for note in json_of(listed)["notes"]] == ["first note"]
    assert database.is_file()


def test_json_notes_reject_a_body_without_text(client: Client) -> None:
    response = client.post("/api/notes", json={"note": "wrong key"}, buffered=True)
    assert response.status_code == 400
    assert response.json == {"error": "send a JSON object with a 'text' string"}


def test_html_notes_form_posts_then_redirects(client: Client) -> None:
    posted = client.post("/notes", data={"text": "<b>bold</b>"}, buffered=True)
    assert posted.status_code == 303
    assert posted.headers["Location"] == "http://localhost/notes"
    assert_example_headers(posted)

    page = client.get("/notes", buffered=True)
    assert "<li>&lt;b&gt;bold&lt;/b&gt;</li>" in page.text
    assert_example_headers(page)


def test_not_found_still_has_the_middleware_headers(client: Client) -> None:
    response = client.get("/no/such/page", buffered=True)
    assert response.status_code == 404
    assert_example_headers(response)


def test_method_not_allowed_still_has_the_middleware_headers(client: Client) -> None:
    response = client.delete("/api/status", buffered=True)
    assert response.status_code == 405
    assert_example_headers(response)


# -- environment overrides -----------------------------------------------------


@settings_sources
def test_custom_header_value_comes_from_the_environment(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBACK_APP_CUSTOM_HEADER", "from the environment")
    app = create_app(source)
    response = Client(app, lint=True).get("/api/status", buffered=True)
    assert_example_headers(response, "from the environment")
    assert json_of(response)["app"] == "from the environment"


@settings_sources
def test_empty_custom_header_setting_leaves_the_middleware_out(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBACK_APP_CUSTOM_HEADER", "")
    app = create_app(source)
    assert [layer.path for layer in app.configured_middleware] == [
        "example_project.middlewares.TimerMiddleware"
    ]
    [skipped] = app.skipped_middleware
    assert skipped.path == "example_project.middlewares.CustomHeaderMiddleware"
    assert skipped.reason == "APP_CUSTOM_HEADER is empty"
    response = Client(app, lint=True).get("/", buffered=True)
    assert "X-App-Name" not in response.headers
    assert "X-Response-Time" in response.headers


@settings_sources
def test_production_settings_from_the_environment(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBACK_DEBUG", "0")
    monkeypatch.setenv("LBACK_SECRET_KEY", "a-long-random-production-secret-key-from-env")
    app = create_app(source)
    assert app.settings.DEBUG is False
    assert app.settings.SECRET_KEY == "a-long-random-production-secret-key-from-env"


def test_default_database_is_a_sqlite_file_in_base_dir() -> None:
    app = create_app(SETTINGS_MODULE)
    assert app.settings.DATABASE_URL is None
    assert database_url(app.settings.DATABASE_URL, app.settings.BASE_DIR) == (
        f"sqlite:///{EXAMPLE_DIR / 'db.sqlite3'}"
    )
    # Building the app does not open the database: db_session is created lazily.
    assert not app.dependencies.is_created("db_session")


# -- the command line ------------------------------------------------------------


@settings_sources
def test_lback_mw_check_passes_with_only_the_debug_warning(source: str) -> None:
    result = CliRunner().invoke(cli, ["check", "--settings", source])
    assert result.exit_code == 0, result.output
    assert [line.split(":")[0] for line in result.output.splitlines() if "WARNING" in line] == [
        "WARNING debug"
    ]


@settings_sources
def test_example_settings_are_production_clean_with_the_environment(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LBACK_DEBUG", "false")
    monkeypatch.setenv("LBACK_SECRET_KEY", "x" * 50)
    result = CliRunner().invoke(cli, ["check", "--fail-on-warning", "--settings", source])
    assert result.exit_code == 0, result.output
    assert "no warnings" in result.output
