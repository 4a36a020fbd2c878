"""Route-aware middleware: one routing match, process_view, scoped entries, per-route
middleware and Django's middleware shape (the order matrix is in test_pipeline.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request, Response, Route
from lback_mw.cli import describe_middleware
from lback_mw.middlewares import csrf_exempt
from lback_mw.middlewares.base import CallNext
from lback_mw.routing import Router
from lback_mw.testing import Client


class Tag(BaseMiddleware):
    """Adds its name to ``X-Trail`` and records what it saw."""

    def __init__(self, name: str = "tag", seen: list[Any] | None = None) -> None:
        self.name = name
        self.seen = seen if seen is not None else []

    def process_view(self, request: Request, view: Any, view_kwargs: dict[str, Any]) -> None:
        self.seen.append((self.name, view.__name__, dict(view_kwargs), request.endpoint))

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        response.headers.add("X-Trail", self.name)
        return response


class Other(Tag):
    pass


class Tags(Tag):
    """Named like Tag, for the did-you-mean of an exclusion."""


def test_routing_matches_once_for_csrf_metrics_and_process_view(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    original = Router.match

    def counting(self: Router, request: Request) -> Any:
        calls.append(request.path)
        return original(self, request)

    monkeypatch.setattr(Router, "match", counting)
    seen: list[Any] = []
    app = app_factory(
        MIDDLEWARES=[
            "lback_mw.middlewares.MetricsMiddleware",
            "lback_mw.middlewares.SessionMiddleware",
            "lback_mw.middlewares.CSRFMiddleware",
            {"class": Tag, "params": {"seen": seen}},
        ]
    )

    @app.route("/hooks/<int:id>", methods=["POST"])
    @csrf_exempt
    def hook(request: Request, id: int) -> str:
        assert request.url_rule is not None
        return f"hook {id} {request.url_rule.rule} {request.view_args}"

    client = client_for(app)
    response = client.post("/hooks/7")
    assert response.text == "hook 7 /hooks/<int:id> {'id': 7}"
    assert calls == ["/hooks/7"]  # CSRF's exemption and metrics' label reuse the match
    assert seen == [("tag", "hook", {"id": 7}, "hook")]
    assert client.post("/nowhere").status_code == 404
    assert calls == ["/hooks/7", "/nowhere"]


def test_process_view_sees_the_kwargs_the_view_gets_and_may_change_them(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    class Double(BaseMiddleware):
        def process_view(self, request: Request, view: Any, view_kwargs: dict[str, Any]) -> None:
            view_kwargs["id"] *= 2

    app = app_factory(MIDDLEWARES=[Double])
    app.route("/n/<int:id>")(lambda request, id: str(id))
    assert client_for(app).get("/n/21").text == "42"


def test_process_view_does_not_run_on_404_405_or_the_automatic_options(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    seen: list[Any] = []
    app = app_factory(MIDDLEWARES=[{"class": Tag, "params": {"seen": seen}}])
    app.route("/only-get")(lambda request: "ok")
    client = client_for(app)
    assert [client.open("/only-get", method=m).status_code for m in ("POST", "OPTIONS")] == [
        405,
        200,
    ]
    assert client.get("/missing").headers.getlist("X-Trail") == ["tag"]  # the rest still ran
    assert seen == []


def test_a_scoped_entry_runs_none_of_its_hooks_outside_its_paths(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = app_factory(
        MIDDLEWARES=[
            {"class": Tag, "params": {"name": "api"}, "paths": ["/api/*"]},
            {"class": Other, "params": {"name": "not-health"}, "exclude_paths": ["/health"]},
        ]
    )
    for rule in ("/api", "/api/notes", "/apix", "/health", "/<name>/<int:id>"):
        app.route(rule, endpoint=rule)(lambda request, **kwargs: "ok")
    client = client_for(app)
    trails = {
        path: client.get(path).headers.getlist("X-Trail")
        for path in ("/api", "/api/notes", "/apix", "/health", "/api/7", "/x/7", "/api/no/such")
    }
    assert trails == {
        "/api": ["not-health", "api"],
        "/api/notes": ["not-health", "api"],
        "/apix": ["not-health"],
        "/health": [],
        "/api/7": ["not-health", "api"],  # /<name>/<int:id>: decided per request
        "/x/7": ["not-health"],
        "/api/no/such": ["not-health", "api"],  # 404s are scoped by their path too
    }


class Around:
    """A ``dispatch(request, call_next)`` layer that marks the response."""

    def dispatch(self, request: Request, call_next: CallNext) -> WerkzeugResponse:
        response = call_next(request)
        response.headers.add("X-Trail", "around")
        return response


def test_a_scoped_call_next_layer_passes_other_paths_straight_through(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = app_factory(MIDDLEWARES=[{"class": Around, "paths": ["/n/1"]}])
    app.route("/n/<int:id>")(lambda request, id: str(id))  # decided per request
    client = client_for(app)
    assert [client.get(f"/n/{n}").headers.getlist("X-Trail") for n in (1, 2)] == [["around"], []]


def test_route_middleware_runs_inside_the_global_chain_and_only_for_its_route(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    seen: list[Any] = []
    app = app_factory(
        MIDDLEWARES=[{"class": Tag, "params": {"name": "global", "seen": seen}}],
        dependencies={"seen": seen},
    )

    @app.route("/a", middleware=[{"class": Other, "params": {"name": "own"}}])
    def a(request: Request) -> str:
        return "a"

    app.route("/b")(lambda request: "b")
    client = client_for(app)
    assert client.get("/a").headers.getlist("X-Trail") == ["own", "global"]
    assert client.get("/b").headers.getlist("X-Trail") == ["global"]
    assert [name for name, *_ in seen] == ["global", "own", "global"]


def test_routes_setting_takes_middleware_and_exclusions(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = app_factory(
        MIDDLEWARES=[
            Tag,
            {"class": "tests.sample_middlewares.HeaderMiddleware", "params": {"header": "X-All"}},
        ],
        ROUTES="tests.sample_route_middleware",
    )
    client = client_for(app)
    headers = {path: client.get(path).headers for path in ("/plain", "/quiet", "/own")}
    assert [("X-All" in h, "X-Own" in h, h.getlist("X-Trail")) for h in headers.values()] == [
        (True, False, ["tag"]),
        (False, False, ["tag"]),  # ROUTES[1] switches HeaderMiddleware off
        (True, True, ["tag"]),  # ROUTES[2] has its own, inside the global chain
    ]
    built = app.route_layers(app.router.rules()[2])
    assert built is not None
    assert [layer.label for layer in built.layers] == ["ROUTES[2].middleware[0]"]
    assert [s.label for s in built.skipped] == ["ROUTES[2].middleware[1]"]


def test_route_middleware_errors_name_the_route_entry(app_factory: Callable[..., App]) -> None:
    app = app_factory(MIDDLEWARES=[Tag])
    with pytest.raises(ImproperlyConfigured) as info:
        app.route("/x", middleware=[{"class": Tag, "params": {"nmae": "x"}}])(lambda r: "x")
    assert str(info.value).startswith(
        f"route '/x'.middleware[0] ('{__name__}.Tag'): unknown parameter 'nmae' in params. "
        "Did you mean 'name'?"
    )


@pytest.mark.parametrize(
    ("route", "message"),
    [
        pytest.param(
            {"exclude_middleware": [Other]},
            f"route '/x'.exclude_middleware[0] ('{__name__}.Other') is not in the middleware "
            f"chain, so there is nothing to switch off. The chain has: {__name__}.Tag.",
            id="exclusion not in the chain",
        ),
        pytest.param(
            {"exclude_middleware": [Tags]},
            f"route '/x'.exclude_middleware[0] ('{__name__}.Tags') is not in the middleware "
            f"chain, so there is nothing to switch off. Did you mean 'Tag'? The chain has: "
            f"{__name__}.Tag.",
            id="exclusion of a class named like one in the chain",
        ),
        pytest.param(
            {"exclude_middleware": ["tests.test_dispatch.Tagg"]},
            "module 'tests.test_dispatch' has no attribute 'Tagg'. Did you mean 'Tag'?",
            id="exclusion typo",
        ),
        pytest.param(
            {"exclude_middleware": [42]},
            "route '/x'.exclude_middleware[0]: expected a dotted path or a class, got int 42.",
            id="exclusion of the wrong type",
        ),
        pytest.param(
            {"middleware": "tests.test_dispatch.Tag"},
            "Route '/x': middleware must be a list, like ['tests.test_dispatch.Tag'].",
            id="a string, not a list",
        ),
        pytest.param(
            {"middleware": [{"class": Other, "paths": ["/x"]}]},
            "paths and exclude_paths have no use in a route's own middleware",
            id="paths in a route's middleware",
        ),
    ],
)
def test_route_options_are_validated_at_registration(
    app_factory: Callable[..., App], route: dict[str, Any], message: str
) -> None:
    app = app_factory(MIDDLEWARES=[Tag])
    with pytest.raises(ImproperlyConfigured) as info:
        app.route("/x", **route)(lambda request: "x")
    assert message in str(info.value)


def test_an_exclusion_that_names_nothing_in_routes_fails_create_app(
    app_factory: Callable[..., App],
) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(MIDDLEWARES=[Tag], ROUTES="tests.sample_route_middleware")
    assert str(info.value).startswith(
        "ROUTES[1].exclude_middleware[0] ('tests.sample_middlewares.HeaderMiddleware') is not "
        "in the middleware chain"
    )


def test_a_route_middleware_that_is_not_used_is_skipped(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = app_factory()
    app.route("/x", middleware=["tests.sample_middlewares.NotUsed", Tag])(lambda r: "x")
    assert client_for(app).get("/x").headers.getlist("X-Trail") == ["tag"]
    [rule] = app.router.rules()
    built = app.route_layers(rule)
    assert built is not None
    assert [(s.label, s.reason) for s in built.skipped] == [
        ("route '/x'.middleware[0]", "feature flag off")
    ]


class DjangoStyle:
    """A Django middleware as Django's docs write one, unchanged."""

    def __init__(self, get_response: Callable[[Any], Any], log: list[str]) -> None:
        self.get_response = get_response
        self.log = log

    def __call__(self, request: Any) -> Any:
        self.log.append(f"before {request.path}")
        response = self.get_response(request)
        self.log.append(f"after {response.status_code}")
        response.headers["X-Django"] = "yes"
        return response

    def process_view(
        self, request: Any, view_func: Any, view_args: tuple[Any, ...], view_kwargs: dict[str, Any]
    ) -> Any:
        self.log.append(f"view {view_func.__name__} {view_args} {view_kwargs}")
        return None

    def process_exception(self, request: Any, exception: Exception) -> Any:
        self.log.append(f"exception {exception}")
        return Response("handled the Django way", status=503)


def test_a_django_middleware_runs_as_it_is(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    log: list[str] = []
    app = app_factory(
        MIDDLEWARES=[DjangoStyle, {"class": Tag, "params": {"name": "inner"}}],
        dependencies={"log": log},
    )

    @app.route("/items/<int:id>")
    def item(request: Request, id: int) -> str:
        if id == 0:
            raise ValueError("no item 0")
        return f"item {id}"

    client = client_for(app)
    response = client.get("/items/3")
    assert (response.text, response.headers["X-Django"]) == ("item 3", "yes")
    assert response.headers.getlist("X-Trail") == ["inner"]
    assert log == ["before /items/3", "view item () {'id': 3}", "after 200"]
    log.clear()
    failed = client.get("/items/0")
    assert (failed.status_code, failed.text) == (503, "handled the Django way")
    assert log == ["before /items/0", "view item () {'id': 0}", "exception no item 0", "after 503"]
    [layer] = [layer for layer in app.chain if layer.style == "django"]
    assert layer.hooks == ("__call__", "process_view", "process_exception")
    assert layer.injected == ["log"]
    # lback-mw middleware gives it its turn both ways, as a call_next layer.
    entry = describe_middleware(app)["chain"][0]
    assert (entry["style"], entry["request_order"], entry["response_order"]) == ("django", 1, 2)


def test_a_django_middleware_can_be_scoped_and_excluded(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    log: list[str] = []
    app = app_factory(
        MIDDLEWARES=[{"class": DjangoStyle, "paths": ["/d/*"]}], dependencies={"log": log}
    )
    app.route("/d/<name>", endpoint="d")(lambda request, name: name)
    app.route("/<name>", endpoint="top")(lambda request, name: name)
    app.route("/d/off", endpoint="off", exclude_middleware=[DjangoStyle])(lambda request: "off")
    client = client_for(app)
    assert [
        "X-Django" in client.get(path).headers for path in ("/d/x", "/x", "/d/off", "/d/no/such")
    ] == [True, False, False, True]


def test_django_shape_with_an_async_call_is_refused(app_factory: Callable[..., App]) -> None:
    class AsyncDjango:
        def __init__(self, get_response: Any) -> None:
            self.get_response = get_response

        async def __call__(self, request: Any) -> Any:
            return await self.get_response(request)

    with pytest.raises(ImproperlyConfigured, match="is defined with 'async def'"):
        app_factory(MIDDLEWARES=[AsyncDjango])


def test_django_shape_with_a_call_next_call_is_refused(app_factory: Callable[..., App]) -> None:
    class Mixed:
        def __init__(self, get_response: Any) -> None:
            self.get_response = get_response

        def __call__(self, request: Any, call_next: Any) -> Any:
            return call_next(request)

    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(MIDDLEWARES=[Mixed])
    assert "whose __call__ takes (request); got (request, call_next)." in str(info.value)


def test_routes_added_after_start_up_get_their_chain(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = app_factory(MIDDLEWARES=[{"class": Tag, "paths": ["/late"]}])
    app.route("/early")(lambda request: "early")  # every route shares one chain...
    client = client_for(app)
    assert client.get("/late").status_code == 404
    app.router.add("/late", lambda request: "late", endpoint="late")  # ...until this one
    response = client.get("/late")
    assert (response.text, response.headers.getlist("X-Trail")) == ("late", ["tag"])
    assert client.get("/early").headers.getlist("X-Trail") == []


def test_route_dataclass_carries_middleware() -> None:
    route = Route("/x", lambda request: "x", middleware=["a.B"], exclude_middleware=["c.D"])
    assert (route.middleware, route.exclude_middleware) == (["a.B"], ["c.D"])


class DjangoStyleReturningNothing:
    """A Django middleware that forgot ``return response``."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        self.get_response(request)


def test_a_django_middleware_that_returns_nothing_is_a_500_naming_it(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = app_factory(MIDDLEWARES=[DjangoStyleReturningNothing])
    app.route("/")(lambda request: "ok")
    with caplog.at_level(logging.ERROR, logger="lback_mw.errors"):
        response = client_for(app).get("/")
    assert response.status_code == 500
    assert (
        "tests.test_dispatch.DjangoStyleReturningNothing.__call__ returned NoneType" in caplog.text
    )
