"""Routing: converters, 404/405, automatic HEAD and OPTIONS, url_for, ROUTES, view returns."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.exceptions import abort

from lback_mw import App, ImproperlyConfigured, JSONResponse, Request, Response, Route
from lback_mw.testing import Client, make_app


@pytest.fixture
def app(app_factory: Callable[..., App]) -> App:
    app = app_factory()

    @app.route("/users/<int:user_id>")
    def user(request: Request, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "type": type(user_id).__name__}

    @app.route("/files/<path:name>", methods=["GET", "DELETE"])
    def files(request: Request, name: str) -> str:
        return f"{request.method} {name}"

    @app.route("/docs/")
    def docs(request: Request) -> str:
        return "docs"

    @app.route("/custom", methods=["GET", "OPTIONS"])
    def custom(request: Request) -> Response:
        return Response(f"custom {request.method}")

    @app.route("/links")
    def links(request: Request) -> dict[str, str]:
        return {
            "relative": request.url_for("user", user_id=7),
            "external": request.url_for("user", _external=True, user_id=7),
        }

    return app


@pytest.fixture
def client(app: App, client_for: Callable[[App], Client]) -> Client:
    return client_for(app)


def test_converters_convert(client: Client) -> None:
    assert client.get("/users/12").json == {"id": 12, "type": "int"}
    assert client.get("/files/a/b.txt").text == "GET a/b.txt"
    assert client.get("/users/abc").status_code == 404


def test_not_found_and_method_not_allowed_with_allow(client: Client) -> None:
    assert client.get("/nowhere").status_code == 404
    response = client.post("/files/x")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "DELETE", "OPTIONS"}


def test_head_is_automatic_and_has_no_body(app: App, client: Client) -> None:
    get = client.get("/users/1")
    # Unlinted: werkzeug's linter does not know the method, and flags the (correct)
    # Content-Length of a bodiless HEAD response.
    head = Client(app).head("/users/1")
    assert head.status_code == 200
    assert head.data == b""
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


def test_options_is_automatic(client: Client) -> None:
    response = client.options("/files/readme")
    assert response.status_code == 200
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "DELETE", "OPTIONS"}
    assert response.data == b""


def test_explicit_options_reaches_the_view(client: Client) -> None:
    assert client.open("/custom", method="OPTIONS").text == "custom OPTIONS"


def test_missing_trailing_slash_redirects_on_the_request_host(client: Client) -> None:
    response = client.get("/docs", base_url="https://shop.example:8443")
    assert response.status_code == 308
    assert response.headers["Location"] == "https://shop.example:8443/docs/"


def test_url_for(app: App, client: Client) -> None:
    assert app.url_for("user", user_id=3) == "/users/3"
    assert app.url_for("user", user_id=3, page=2) == "/users/3?page=2"
    links = client.get("/links", base_url="http://example.org/prefix").json
    assert links == {"relative": "/prefix/users/7", "external": "http://example.org/prefix/users/7"}
    with pytest.raises(RuntimeError, match="needs the request"):
        app.router.url_for("user", _external=True, user_id=1)


def test_routes_setting_loads_a_module() -> None:
    app = make_app(ROUTES="tests.sample_routes")
    client = Client(app, lint=True)
    assert client.get("/").text == "home"
    assert client.put("/items/abc").json == {"slug": "abc"}
    assert [rule.rule for rule in app.router.rules()] == ["/", "/items/<slug>"]


@pytest.mark.parametrize(
    ("routes", "message"),
    [
        pytest.param("tests.sample_routes.not_routes", "resolves", id="not a module"),
        pytest.param(
            "tests.sample_settings", "must define a list named 'routes'", id="module without routes"
        ),
        pytest.param("tests.sample_rotues", "Did you mean 'sample_routes'?", id="typo"),
    ],
)
def test_bad_routes_setting(routes: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=f"ROUTES \\('{routes}'\\)") as info:
        make_app(ROUTES=routes)
    if message != "resolves":
        assert message in str(info.value)


def test_duplicate_endpoint_and_bad_rule_are_refused(app: App) -> None:
    with pytest.raises(ImproperlyConfigured, match="endpoint 'user' is already used"):
        app.router.add("/other", lambda request: "x", endpoint="user")
    with pytest.raises(ImproperlyConfigured, match="Route '/bad/<int:' is invalid"):
        app.router.add("/bad/<int:", lambda request: "x", endpoint="bad")


@pytest.mark.parametrize(
    ("value", "status", "mimetype", "body", "header"),
    [
        pytest.param("<b>hi</b>", 200, "text/html", b"<b>hi</b>", None, id="str"),
        pytest.param(b"\x00\x01", 200, "application/octet-stream", b"\x00\x01", None, id="bytes"),
        pytest.param({"a": 1}, 200, "application/json", b'{"a":1}', None, id="dict"),
        pytest.param([1, "é"], 200, "application/json", '[1,"é"]'.encode(), None, id="list"),
        pytest.param(("made", 201), 201, "text/html", b"made", None, id="(body, status)"),
        pytest.param(
            ({"e": 1}, 422, {"X-Why": "bad"}),
            422,
            "application/json",
            b'{"e":1}',
            "bad",
            id="(body, status, headers)",
        ),
        pytest.param(
            JSONResponse({"ok": True}, status=202),
            202,
            "application/json",
            b'{"ok":true}',
            None,
            id="JSONResponse",
        ),
    ],
)
def test_view_return_values(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    value: Any,
    status: int,
    mimetype: str,
    body: bytes,
    header: str | None,
) -> None:
    app = app_factory()
    app.route("/")(lambda request: value)
    response = client_for(app).get("/")
    assert (response.status_code, response.mimetype, response.data) == (status, mimetype, body)
    assert response.headers.get("X-Why") == header


@pytest.mark.parametrize(
    ("value", "logged"),
    [
        pytest.param(None, "view '<lambda>' returned NoneType None", id="None"),
        pytest.param(("a", 200, {}, "extra"), "returned a tuple of 4 items", id="long tuple"),
        pytest.param(3.5, "returned float 3.5", id="float"),
    ],
)
def test_bad_view_return_values_are_500_with_a_log(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    caplog: pytest.LogCaptureFixture,
    value: Any,
    logged: str,
) -> None:
    app = app_factory()
    app.route("/")(lambda request: value)
    with caplog.at_level(logging.ERROR, logger="lback_mw.errors"):
        assert client_for(app).get("/").status_code == 500
    assert logged in caplog.text


def test_abort_in_view(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = app_factory()

    @app.route("/")
    def gone(request: Request) -> str:
        abort(410)

    assert client_for(app).get("/").status_code == 410


def test_json_response_serialises_common_types() -> None:
    import datetime
    import uuid

    stamp = datetime.datetime(2026, 1, 2, 3, 4, 5)
    ident = uuid.UUID(int=1)
    response = JSONResponse({"at": stamp, "id": ident})
    assert response.get_json() == {"at": "2026-01-02T03:04:05", "id": str(ident)}
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        JSONResponse({"x": object()})


async def _async_view(request: Request) -> str:
    return "never"


@pytest.mark.parametrize(
    "register",
    [
        pytest.param(lambda app, rule, view: app.route(rule)(view), id="@app.route"),
        pytest.param(
            lambda app, rule, view: app.router.add_routes([Route(rule, view)]), id="Route"
        ),
    ],
)
def test_converter_typo_is_refused_with_a_suggestion(
    app_factory: Callable[..., App], register: Callable[[App, str, Any], None]
) -> None:
    app = app_factory()
    with pytest.raises(ImproperlyConfigured) as info:
        register(app, "/items/<itn:id>", lambda request, id: "x")
    message = str(info.value)
    assert message.startswith("Route '/items/<itn:id>': unknown converter 'itn'.")
    assert "Did you mean 'int'?" in message
    assert app.router.rules() == []  # nothing half-registered


@pytest.mark.parametrize(
    "register",
    [
        pytest.param(lambda app, rule, view: app.route(rule)(view), id="@app.route"),
        pytest.param(
            lambda app, rule, view: app.router.add_routes([Route(rule, view)]), id="Route"
        ),
    ],
)
def test_async_view_is_refused_at_registration(
    app_factory: Callable[..., App], register: Callable[[App, str, Any], None]
) -> None:
    app = app_factory()
    with pytest.raises(ImproperlyConfigured, match="'async def'") as info:
        register(app, "/async", _async_view)
    assert "Route '/async': the view tests.test_routing._async_view" in str(info.value)
    assert app.router.rules() == []


def test_async_hooks_and_error_handlers_are_refused_at_registration(
    app_factory: Callable[..., App],
) -> None:
    app = app_factory()

    async def hook(request: Request) -> None:
        return None

    for register in (app.before_request, app.after_request, app.errorhandler(404)):
        with pytest.raises(ImproperlyConfigured, match="is defined with 'async def'"):
            register(hook)
    assert app.errors.handlers == {}
