"""``App.instrument_hooks``: every hook of the chain through a wrapper, built once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import App, BaseMiddleware, Request
from lback_mw.layers import Layer
from lback_mw.testing import Client


class Both(BaseMiddleware):
    def process_request(self, request: Request) -> None:
        request.environ["tests.both"] = "seen"

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        response.headers["X-Both"] = request.environ["tests.both"]
        return response


class Rescue(BaseMiddleware):
    def process_exception(self, request: Request, exc: Exception) -> WerkzeugResponse | None:
        return WerkzeugResponse(f"handled {exc}", status=503)


Call = tuple[str, str]


def recording(calls: list[Call]) -> Callable[[Layer, str, Callable[..., Any]], Callable[..., Any]]:
    def wrap(layer: Layer, hook_name: str, hook: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(hook)
        def run(request: Request, *args: Any) -> Any:
            calls.append((layer.label, hook_name))
            return hook(request, *args)

        return run

    return wrap


def test_every_hook_runs_through_the_wrapper_in_pipeline_order(
    app_factory: Callable[..., App],
) -> None:
    app = app_factory(MIDDLEWARES=[f"{__name__}.Both", f"{__name__}.Rescue"])

    @app.route("/")
    def fails(request: Request) -> str:
        raise LookupError("inside")

    calls: list[Call] = []
    app.instrument_hooks(recording(calls))
    response = Client(app).get("/")
    assert (response.status_code, response.text) == (503, "handled inside")
    assert calls == [
        ("MIDDLEWARES[0]", "process_request"),
        ("MIDDLEWARES[1]", "process_exception"),
        ("MIDDLEWARES[0]", "process_response"),
    ]
    assert response.headers["X-Both"] == "seen"  # the wrapped hooks did their work


def test_a_call_next_function_is_wrapped_as_its_call(app_factory: Callable[..., App]) -> None:
    app = app_factory()
    app.route("/")(lambda request: "ok")

    @app.middleware
    def stamp(request: Request, call_next: Callable[[Request], WerkzeugResponse]) -> Any:
        response = call_next(request)
        response.headers["X-Stamp"] = "1"
        return response

    calls: list[Call] = []
    app.instrument_hooks(recording(calls))
    assert Client(app).get("/").headers["X-Stamp"] == "1"
    assert calls == [("app.use[0]", "__call__")]


def test_the_layers_keep_their_own_instances(app_factory: Callable[..., App]) -> None:
    # The stand-ins exist only in the built pipeline: close(), checks and the
    # chain listing still see the configured middleware.
    app = app_factory(MIDDLEWARES=[f"{__name__}.Both"])
    app.instrument_hooks(recording([]))
    assert isinstance(app.chain[0].instance, Both)


def test_instrumenting_after_serving_is_refused(app_factory: Callable[..., App]) -> None:
    app = app_factory()
    app.route("/")(lambda request: "ok")
    Client(app).get("/")
    with pytest.raises(RuntimeError, match=r"app.instrument_hooks\(\) was called after"):
        app.instrument_hooks(recording([]))


class DjangoStyle:
    """Django's shape: built with get_response, called with the request."""

    def __init__(self, get_response: Callable[[Request], WerkzeugResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: Request) -> WerkzeugResponse:
        response = self.get_response(request)
        response.headers["X-Django"] = "1"
        return response

    def process_view(
        self, request: Request, view: Any, view_args: Any, view_kwargs: dict[str, Any]
    ) -> None:
        request.environ["tests.view_kwargs"] = view_kwargs


def test_route_middleware_django_layers_and_exclusions_are_wrapped_as_configured(
    app_factory: Callable[..., App],
) -> None:
    app = app_factory(MIDDLEWARES=[f"{__name__}.Both", f"{__name__}.DjangoStyle"])

    @app.route("/users/<int:id>", middleware=[f"{__name__}.Rescue"])
    def user(request: Request, id: int) -> str:
        return str(request.environ["tests.view_kwargs"])

    @app.route("/plain", exclude_middleware=[f"{__name__}.Both"])
    def plain(request: Request) -> str:
        return "plain"

    calls: list[Call] = []
    app.instrument_hooks(recording(calls))
    response = Client(app).get("/users/7")
    # Django's four-argument process_view is recognised through the wrapper.
    assert (response.text, response.headers["X-Django"]) == ("{'id': 7}", "1")
    assert calls == [
        ("MIDDLEWARES[0]", "process_request"),
        ("MIDDLEWARES[1]", "__call__"),
        ("MIDDLEWARES[1]", "process_view"),
        ("MIDDLEWARES[0]", "process_response"),
    ]
    calls.clear()
    response = Client(app).get("/plain")
    assert "X-Both" not in response.headers  # the exclusion still holds
    assert calls == [("MIDDLEWARES[1]", "__call__"), ("MIDDLEWARES[1]", "process_view")]
