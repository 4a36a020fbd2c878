"""App on its own: hooks, the set-up guard, propagate_exceptions, close() and the
built-in dependencies."""

from __future__ import annotations

from typing import Any

import pytest

from lback_mw import App, Request, Response, create_app
from lback_mw.exceptions import ImproperlyConfigured


def make() -> App:
    app = create_app({"DEBUG": True})
    app.route("/")(lambda request: "home")
    return app


def test_hooks_run_around_the_view_in_flasks_order() -> None:
    app = make()
    seen: list[str] = []

    @app.before_request
    def before(request: Request) -> None:
        seen.append("before")

    def stamp(label: str) -> Any:
        def after(response: Response) -> Response:
            seen.append(label)
            return response

        return after

    app.after_request(stamp("after 1"))
    app.after_request(stamp("after 2"))
    assert app.test_client().get("/").text == "home"
    assert seen == ["before", "after 2", "after 1"]  # after-request: reverse order


def test_a_before_request_response_short_circuits() -> None:
    app = make()
    app.before_request(lambda request: Response("stopped", status=403))
    response = app.test_client().get("/")
    assert (response.status_code, response.text) == (403, "stopped")


def test_registrations_are_refused_once_serving() -> None:
    app = make()
    app.test_client().get("/")
    with pytest.raises(RuntimeError, match=r"app\.route\(\) was called after the app started"):
        app.route("/late")(lambda request: "late")
    with pytest.raises(RuntimeError, match=r"app\.provide\(\)"):
        app.provide("x", 1)


def test_errorhandler_answers_and_propagate_exceptions_reraises() -> None:
    app = make()

    @app.route("/boom")
    def boom(request: Request) -> str:
        raise KeyError("k")

    @app.route("/zero")
    def zero(request: Request) -> str:
        return str(1 // 0)

    app.errorhandler(KeyError)(lambda request, exc: ("no such key", 404))
    client = app.test_client()
    assert (client.get("/boom").status_code, client.get("/boom").text) == (404, "no such key")
    assert client.get("/zero").status_code == 500
    app.propagate_exceptions = True
    with pytest.raises(ZeroDivisionError):
        client.get("/zero")


def test_errorhandler_refuses_a_coroutine() -> None:
    async def handler(request: Request, exc: Exception) -> str:
        return ""

    with pytest.raises(ImproperlyConfigured, match="errorhandler"):
        make().errorhandler(KeyError)(handler)


def test_builtin_dependencies_and_url_for() -> None:
    app = make()
    app.route("/notes/<int:id>", endpoint="note")(lambda request, id: str(id))
    values = app.dependencies.values()
    assert values["config"] is app.settings
    assert values["settings"] is app.settings
    assert values["router"] is app.router
    assert values["app"] is app
    assert app.url_for("note", id=7) == "/notes/7"


def test_close_closes_each_middleware_once() -> None:
    closed: list[str] = []

    class Holder:
        def __init__(self, get_response: Any) -> None:
            self.get_response = get_response

        def __call__(self, request: Request) -> Any:
            return self.get_response(request)

        def close(self) -> None:
            closed.append("holder")

    app = make()
    app.use(Holder)
    app.close()
    assert closed == ["holder"]
