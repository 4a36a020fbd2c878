"""The Django-style order matrix: every hook call recorded, for every way a chain can go."""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import Forbidden, HTTPException
from werkzeug.middleware.lint import LintMiddleware
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, MiddlewareNotUsed, Request, Response
from lback_mw.middlewares.base import CallNext
from lback_mw.testing import Client, make_app

CHAIN = 3


class Recorder(BaseMiddleware):
    """Logs every hook call as ``"<name>.<hook>"``; misbehaves on request."""

    def __init__(
        self,
        name: str,
        log: list[str],
        short_circuit: bool = False,
        raise_in: str | None = None,
        bad_return_in: str | None = None,
        handle_exception: bool = False,
        view_action: str | None = None,
    ) -> None:
        self.name = name
        self.log = log
        self.short_circuit = short_circuit
        self.raise_in = raise_in
        self.bad_return_in = bad_return_in
        self.handle_exception = handle_exception
        self.view_action = view_action

    def process_request(self, request: Request) -> Any:
        self.log.append(f"{self.name}.request")
        if self.raise_in == "request":
            raise RuntimeError(f"{self.name} failed")
        if self.bad_return_in == "request":
            return "not a response"
        if self.short_circuit:
            return Response(f"short-circuited by {self.name}", status=203)
        return None

    def process_view(self, request: Request, view: Any, view_kwargs: dict[str, Any]) -> Any:
        self.log.append(f"{self.name}.view")
        if self.view_action == "raise":
            raise RuntimeError(f"{self.name} view failed")
        if self.view_action == "bad":
            return 42
        if self.view_action == "short":
            return Response(f"answered by {self.name}.process_view", status=203)
        return None

    def process_response(self, request: Request, response: WerkzeugResponse) -> Any:
        self.log.append(f"{self.name}.response:{response.status_code}")
        if self.raise_in == "response":
            raise RuntimeError(f"{self.name} failed")
        if self.bad_return_in == "response":
            return None
        response.headers.add("X-Trail", self.name)
        return response

    def process_exception(self, request: Request, exc: Exception) -> Any:
        self.log.append(f"{self.name}.exception:{exc}")
        if self.handle_exception:
            return Response(f"handled by {self.name}", status=418)
        return None


class Excluded(Recorder):
    """A recorder the route switches off with ``exclude_middleware``."""


#: Where a recorder is configured: a global entry, one scoped to the requested
#: path or away from it (``paths``/``exclude_paths``), one the route excludes, or
#: one of the route's own ``middleware``.
PLACEMENTS = ("global", "scoped_in", "scoped_out", "excluded_path", "excluded", "route")


@dataclass
class Scenario:
    """One way through a chain of CHAIN recorders; ``expected()`` applies the pipeline's rules."""

    short_at: int | None = None
    raise_request_at: int | None = None
    raise_response_at: int | None = None
    bad_request_at: int | None = None
    bad_response_at: int | None = None
    view_raises: bool = False
    handlers: frozenset[int] = field(default_factory=frozenset)
    #: ``(index, "short" | "raise" | "bad")``: what one ``process_view`` does.
    view_action: tuple[int, str] | None = None
    placements: tuple[str, ...] = ("global",) * CHAIN
    #: Serve the view from ``/<name>`` (scopes decided per request) instead of ``/x``.
    dynamic: bool = False

    def params(self, index: int) -> dict[str, Any]:
        raise_in = (
            "request"
            if index == self.raise_request_at
            else "response"
            if index == self.raise_response_at
            else None
        )
        bad = (
            "request"
            if index == self.bad_request_at
            else "response"
            if index == self.bad_response_at
            else None
        )
        return {
            "name": f"m{index}",
            "short_circuit": index == self.short_at,
            "raise_in": raise_in,
            "bad_return_in": bad,
            "handle_exception": index in self.handlers,
            "view_action": self.view_action[1]
            if self.view_action and self.view_action[0] == index
            else None,
        }

    def entry(self, index: int) -> dict[str, Any]:
        placement = self.placements[index]
        entry: dict[str, Any] = {
            "class": Excluded if placement == "excluded" else Recorder,
            "params": self.params(index),
        }
        if placement == "scoped_in":
            entry["paths"] = ["/x", "/y/*"]
        elif placement == "scoped_out":
            entry["paths"] = ["/y/*"]
        elif placement == "excluded_path":
            entry["exclude_paths"] = ["/x"]
        return entry

    # The oracle models the pipeline docstring's rules in one piece, to be read
    # against it side by side; split up, it would no longer read as that model.
    def expected(self) -> tuple[list[str], int, list[str]]:  # noqa: C901
        outer = [i for i, p in enumerate(self.placements) if p in ("global", "scoped_in")]
        own = [i for i, p in enumerate(self.placements) if p == "route"]
        order = outer + own
        log: list[str] = []
        status, entered, error = 200, len(order), None

        def requests(layers: list[int], offset: int) -> bool:
            nonlocal status, entered, error
            for k, i in enumerate(layers, offset):
                log.append(f"m{i}.request")
                if i == self.raise_request_at:
                    entered, error = k, f"m{i} failed"
                    return False
                if i == self.bad_request_at:
                    entered, status = k, 500
                    return False
                if i == self.short_at:
                    entered, status = k + 1, 203
                    return False
            return True

        def views(layers: list[int], count: int) -> bool:
            nonlocal status, entered, error
            for i in layers:
                log.append(f"m{i}.view")
                action = (
                    self.view_action[1] if self.view_action and self.view_action[0] == i else None
                )
                if action is not None:
                    entered = count
                    if action == "raise":
                        error = f"m{i} view failed"
                    else:
                        status = 203 if action == "short" else 500
                    return False
            return True

        if (
            requests(outer, 0)
            and views(outer, len(outer))
            and requests(own, len(outer))
            and views(own, len(order))
        ):
            log.append("view")
            if self.view_raises:
                error = "view failed"
        if error is not None:
            status = 500
            for i in reversed(order[:entered]):
                log.append(f"m{i}.exception:{error}")
                if i in self.handlers:
                    status = 418
                    break
        trail: list[str] = []
        for i in reversed(order[:entered]):
            log.append(f"m{i}.response:{status}")
            if i in (self.raise_response_at, self.bad_response_at):
                status, trail = 500, []  # a fresh error response replaces the old one
            else:
                trail.append(f"m{i}")
        return log, status, trail


def _scenarios() -> Iterator[Any]:
    yield pytest.param(Scenario(), id="all pass")
    for i in range(CHAIN):
        yield pytest.param(Scenario(short_at=i), id=f"short-circuit at m{i}")
        yield pytest.param(Scenario(raise_request_at=i), id=f"process_request raises at m{i}")
        yield pytest.param(Scenario(raise_response_at=i), id=f"process_response raises at m{i}")
        yield pytest.param(Scenario(bad_request_at=i), id=f"process_request bad return at m{i}")
        yield pytest.param(Scenario(bad_response_at=i), id=f"process_response bad return at m{i}")
        yield pytest.param(
            Scenario(view_raises=True, handlers=frozenset({i})), id=f"view raises, m{i} handles"
        )
        yield pytest.param(
            Scenario(raise_request_at=i, handlers=frozenset({0})),
            id=f"process_request raises at m{i}, m0 handles",
        )
        for action in ("short", "raise", "bad"):
            yield pytest.param(
                Scenario(view_action=(i, action)), id=f"process_view {action} at m{i}"
            )
        yield pytest.param(
            Scenario(view_action=(i, "raise"), handlers=frozenset({0})),
            id=f"process_view raises at m{i}, m0 handles",
        )
    yield pytest.param(Scenario(view_raises=True), id="view raises, nobody handles")
    yield pytest.param(
        Scenario(view_raises=True, handlers=frozenset({0, 2})),
        id="view raises, innermost handler wins",
    )
    yield pytest.param(
        Scenario(short_at=1, raise_response_at=0), id="short at m1, m0 response raises"
    )
    yield pytest.param(
        Scenario(view_raises=True, handlers=frozenset({1}), raise_response_at=2),
        id="handled error, then a response hook raises",
    )
    # Route-level and path-scoped layers: m0 global, m1 the route's own, m2 varies.
    for placement in PLACEMENTS:
        for dynamic in (False, True):
            layout = ("global", "route", placement)
            where = f"m2 {placement}, {'/<name>' if dynamic else '/x'}"
            yield pytest.param(
                Scenario(placements=layout, dynamic=dynamic), id=f"{where}, all pass"
            )
            for i in range(CHAIN):
                for kind, scenario in (
                    ("short-circuit", Scenario(short_at=i)),
                    (
                        "process_request raises",
                        Scenario(raise_request_at=i, handlers=frozenset({0, 1, 2})),
                    ),
                    ("process_view answers", Scenario(view_action=(i, "short"))),
                    (
                        "process_view raises",
                        Scenario(view_action=(i, "raise"), handlers=frozenset({0})),
                    ),
                    ("process_response raises", Scenario(raise_response_at=i)),
                ):
                    scenario.placements, scenario.dynamic = layout, dynamic
                    yield pytest.param(scenario, id=f"{where}, {kind} at m{i}")
            yield pytest.param(
                Scenario(
                    placements=layout, dynamic=dynamic, view_raises=True, handlers=frozenset({0, 2})
                ),
                id=f"{where}, view raises, innermost handler wins",
            )


def _build(app_factory: Callable[..., App], scenario: Scenario, log: list[str]) -> App:
    placements = scenario.placements
    app = app_factory(
        MIDDLEWARES=[scenario.entry(i) for i, p in enumerate(placements) if p != "route"],
        dependencies={"log": log},
    )

    @app.route(
        "/<name>" if scenario.dynamic else "/x",
        # A route entry that raises MiddlewareNotUsed is left out; the rest run.
        middleware=[
            "tests.sample_middlewares.NotUsed",
            *(scenario.entry(i) for i, p in enumerate(placements) if p == "route"),
        ],
        exclude_middleware=[Excluded] if "excluded" in placements else [],
    )
    def view(request: Request, name: str = "x") -> str:
        log.append("view")
        if scenario.view_raises:
            raise RuntimeError("view failed")
        return "view ran"

    return app


@pytest.mark.parametrize("scenario", list(_scenarios()))
def test_order_matrix(
    scenario: Scenario, app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    log: list[str] = []
    response = client_for(_build(app_factory, scenario, log)).get("/x")
    expected_log, expected_status, expected_trail = scenario.expected()
    assert log == expected_log
    assert response.status_code == expected_status
    assert response.headers.getlist("X-Trail") == expected_trail


positions = st.none() | st.integers(min_value=0, max_value=CHAIN - 1)


@settings(max_examples=250, deadline=None)
@given(
    scenario=st.builds(
        Scenario,
        short_at=positions,
        raise_request_at=positions,
        raise_response_at=positions,
        bad_request_at=positions,
        bad_response_at=positions,
        view_raises=st.booleans(),
        handlers=st.frozensets(st.integers(min_value=0, max_value=CHAIN - 1)),
        view_action=st.none()
        | st.tuples(
            st.integers(min_value=0, max_value=CHAIN - 1),
            st.sampled_from(["short", "raise", "bad"]),
        ),
        placements=st.tuples(*[st.sampled_from(PLACEMENTS)] * CHAIN),
        dynamic=st.booleans(),
    )
)
def test_order_for_any_combination_of_behaviours(scenario: Scenario) -> None:
    """Every mix of short-circuits, raises, bad returns, handlers and placements
    (global, path-scoped in or out, excluded by the route, the route's own) obeys
    the rules, on a static route and on one whose scopes are decided per request."""
    # One Recorder field carries both raise sites, and one both bad-return sites.
    assume(
        scenario.raise_request_at is None or scenario.raise_request_at != scenario.raise_response_at
    )
    assume(scenario.bad_request_at is None or scenario.bad_request_at != scenario.bad_response_at)
    log: list[str] = []
    app = _build(lambda **settings: make_app(**settings), scenario, log)
    response = Client(app, lint=True).get("/x")
    expected_log, expected_status, expected_trail = scenario.expected()
    assert log == expected_log
    assert response.status_code == expected_status
    assert response.headers.getlist("X-Trail") == expected_trail


def test_middleware_not_used_is_left_out_of_the_chain(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    log: list[str] = []
    app = app_factory(
        MIDDLEWARES=[
            {"class": Recorder, "params": {"name": "m0"}},
            "tests.sample_middlewares.NotUsed",
            {"class": Recorder, "params": {"name": "m1"}},
        ],
        dependencies={"log": log},
    )
    app.route("/")(lambda request: "ok")
    assert client_for(app).get("/").status_code == 200
    assert log == [
        "m0.request",
        "m1.request",
        "m0.view",
        "m1.view",
        "m1.response:200",
        "m0.response:200",
    ]
    assert [(s.label, s.reason) for s in app.skipped_middleware] == [
        ("MIDDLEWARES[1]", "feature flag off")
    ]


def test_wrong_return_type_is_logged_with_class_and_method(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = app_factory(
        MIDDLEWARES=[{"class": Recorder, "params": {"name": "m0", "bad_return_in": "response"}}],
        dependencies={"log": []},
    )
    app.route("/")(lambda request: "ok")
    with caplog.at_level(logging.ERROR, logger="lback_mw.errors"):
        response = client_for(app).get("/")
    assert response.status_code == 500
    assert "tests.test_pipeline.Recorder.process_response returned NoneType" in caplog.text


def _get_a_crash(app: App, client: Client, caplog: pytest.LogCaptureFixture, error: str) -> Any:
    """GET / on ``app`` whose view raises ``RuntimeError(error)``: the 500 response."""

    @app.route("/")
    def boom(request: Request) -> str:
        raise RuntimeError(error)

    with caplog.at_level(logging.ERROR, logger="lback_mw.errors"):
        response = client.get("/")
    assert response.status_code == 500
    return response


@pytest.mark.parametrize(
    ("debug", "error", "shown", "hidden"),
    [
        pytest.param(
            False,
            "secret database password",
            [],
            ["secret", "Traceback"],
            id="without debug: nothing",
        ),
        pytest.param(
            True,
            "<script>x</script>",
            ["Traceback", "RuntimeError: &lt;script&gt;x&lt;/script&gt;"],
            ["<script>"],
            id="debug: the escaped traceback",
        ),
    ],
)
def test_exception_page_shows_the_traceback_in_debug_only(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    caplog: pytest.LogCaptureFixture,
    debug: bool,
    error: str,
    shown: list[str],
    hidden: list[str],
) -> None:
    app = app_factory(DEBUG=debug)
    response = _get_a_crash(app, client_for(app), caplog, error)
    for text in shown:
        assert text in response.text
    for text in hidden:
        assert text not in response.text
    assert error in caplog.text  # the log keeps the traceback, whatever the page shows
    assert "Unhandled exception on GET '/'" in caplog.text


class _BrokenOnTheWayOut(BaseMiddleware):
    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        raise LookupError("the response hook broke too")


def test_debug_page_shows_the_view_error_behind_a_failing_process_response(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = app_factory(DEBUG=True, MIDDLEWARES=[_BrokenOnTheWayOut])
    response = _get_a_crash(app, client_for(app), caplog, "the view broke first")
    first = response.text.index("RuntimeError: the view broke first")
    between = response.text.index("During handling of the above exception")
    last = response.text.index("LookupError: the response hook broke too")
    assert first < between < last
    logged = caplog.records[-1].exc_text or ""  # the log line has both
    assert "the view broke first" in logged
    assert "the response hook broke too" in logged


def test_http_exception_keeps_its_status_and_passes_process_exception(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    log: list[str] = []
    app = app_factory(
        MIDDLEWARES=[{"class": Recorder, "params": {"name": "m0"}}], dependencies={"log": log}
    )
    response = client_for(app).get("/missing")
    assert response.status_code == 404
    assert response.headers.getlist("X-Trail") == ["m0"]
    assert log[0] == "m0.request"
    assert log[1].startswith("m0.exception:404 Not Found")
    assert log[2] == "m0.response:404"


def test_streaming_response_is_not_buffered(app_factory: Callable[..., App]) -> None:
    produced: list[int] = []
    app = app_factory(
        MIDDLEWARES=[{"class": Recorder, "params": {"name": "m0"}}], dependencies={"log": []}
    )

    @app.route("/stream")
    def stream(request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            for n in range(3):
                produced.append(n)
                yield f"chunk{n};".encode()

        return Response(chunks(), mimetype="text/plain")

    environ = EnvironBuilder("/stream").get_environ()
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)

    body = LintMiddleware(app)(environ, start_response)
    assert statuses == ["200 OK"]
    assert produced == []  # nothing was read while the pipeline ran
    iterator = iter(body)
    assert next(iterator) == b"chunk0;"
    assert produced == [0]
    assert b"".join(iterator) == b"chunk1;chunk2;"
    getattr(body, "close", lambda: None)()


class CallNextRecorder:
    """A ``dispatch(request, call_next)`` middleware recording around call_next."""

    def __init__(self, log: list[str], name: str = "c", raise_before: bool = False) -> None:
        self.log = log
        self.name = name
        self.raise_before = raise_before

    def dispatch(self, request: Request, call_next: CallNext) -> WerkzeugResponse:
        self.log.append(f"{self.name}.before")
        if self.raise_before:
            raise RuntimeError(f"{self.name} failed")
        response = call_next(request)
        self.log.append(f"{self.name}.after:{response.status_code}")
        response.headers.add("X-Trail", self.name)
        return response


def _mixed_app(
    app_factory: Callable[..., App], log: list[str], view_raises: bool = False, **call_next: Any
) -> App:
    app = app_factory(
        MIDDLEWARES=[
            {"class": Recorder, "params": {"name": "m0"}},
            {"class": CallNextRecorder, "params": call_next},
            {"class": Recorder, "params": {"name": "m2"}},
        ],
        dependencies={"log": log},
    )

    @app.route("/")
    def view(request: Request) -> str:
        log.append("view")
        if view_raises:
            raise RuntimeError("view failed")
        return "ok"

    return app


@pytest.mark.parametrize(
    ("view_raises", "status", "way_out"),
    [
        pytest.param(
            False,
            200,
            ["m2.response:200", "c.after:200", "m0.response:200"],
            id="view returns",
        ),
        pytest.param(
            True,
            500,
            ["m2.exception:view failed", "m2.response:500", "c.after:500", "m0.response:500"],
            id="view raises: call_next returns the error response instead of raising",
        ),
    ],
)
def test_call_next_middleware_sits_in_list_order(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    view_raises: bool,
    status: int,
    way_out: list[str],
) -> None:
    log: list[str] = []
    response = client_for(_mixed_app(app_factory, log, view_raises=view_raises)).get("/")
    assert response.status_code == status
    # process_view runs innermost, for every layer in list order (Django's way).
    assert log == ["m0.request", "c.before", "m2.request", "m0.view", "m2.view", "view", *way_out]
    assert response.headers.getlist("X-Trail") == ["m2", "c", "m0"]


def test_exception_in_dispatch_goes_to_outer_process_exception(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    log: list[str] = []
    response = client_for(_mixed_app(app_factory, log, raise_before=True)).get("/")
    assert response.status_code == 500
    assert log == ["m0.request", "c.before", "m0.exception:c failed", "m0.response:500"]


def test_function_middleware_hooks_and_use_interleave_in_documented_order(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    log: list[str] = []
    app = app_factory(
        MIDDLEWARES=[{"class": Recorder, "params": {"name": "m0"}}], dependencies={"log": log}
    )

    @app.before_request
    def first_before(request: Request) -> None:
        log.append("before1")

    @app.before_request
    def second_before(request: Request) -> None:
        log.append("before2")

    @app.after_request
    def first_after(response: WerkzeugResponse) -> WerkzeugResponse:
        log.append("after1")
        return response

    @app.after_request
    def second_after(response: WerkzeugResponse) -> WerkzeugResponse:
        log.append("after2")
        return response

    @app.middleware
    def timing(request: Request, call_next: CallNext) -> WerkzeugResponse:
        log.append("fn.before")
        response = call_next(request)
        log.append("fn.after")
        return response

    app.use(CallNextRecorder(log, name="used"))
    app.use(Recorder, name="m9", log=log)

    @app.route("/")
    def view(request: Request) -> str:
        log.append("view")
        return "ok"

    assert client_for(app).get("/").status_code == 200
    assert log == [
        "m0.request",
        "fn.before",
        "used.before",
        "m9.request",
        "before1",
        "before2",
        "m0.view",
        "m9.view",
        "view",
        "after2",
        "after1",
        "m9.response:200",
        "used.after:200",
        "fn.after",
        "m0.response:200",
    ]


def test_before_request_short_circuit_still_runs_after_request(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = app_factory()
    seen: list[int] = []

    @app.before_request
    def deny(request: Request) -> Response:
        return Response("denied", status=403)

    @app.after_request
    def record(response: WerkzeugResponse) -> WerkzeugResponse:
        seen.append(response.status_code)
        return response

    app.route("/")(lambda request: "view must not run")
    response = client_for(app).get("/")
    assert (response.status_code, response.text, seen) == (403, "denied", [403])


@pytest.mark.parametrize(
    ("key", "path", "expected"),
    [
        pytest.param(KeyError, "/key", "KeyError handler", id="by class"),
        pytest.param(LookupError, "/key", "LookupError handler", id="by base class"),
        pytest.param(404, "/missing", "404 handler", id="by status code"),
        pytest.param(500, "/key", "500 handler", id="500 catches unhandled exceptions"),
    ],
)
def test_errorhandler(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    key: Any,
    path: str,
    expected: str,
) -> None:
    app = app_factory()
    name = key if isinstance(key, int) else key.__name__
    app.errorhandler(key)(lambda request, exc: (f"{name} handler", 599))

    @app.route("/key")
    def lookup(request: Request) -> str:
        raise KeyError("nope")

    response = client_for(app).get(path)
    assert (response.text, response.status_code) == (expected, 599)


def test_errorhandler_for_status_beats_handler_for_exception_class(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    app = app_factory()
    app.errorhandler(Exception)(lambda request, exc: "by class")
    app.errorhandler(404)(lambda request, exc: ("by status", 404))
    assert client_for(app).get("/missing").text == "by status"


class _PaywallForbidden(Forbidden):
    description = "Subscribe to read on."


#: Handlers registered (in this order), then the handler each exception reaches:
#: Flask's precedence, most specific class carrying the code first, then the code.
PRECEDENCE = {
    "subclass beats its code": ([403, _PaywallForbidden], _PaywallForbidden(), "_PaywallForbidden"),
    "subclass beats its code, either order": (
        [_PaywallForbidden, 403],
        _PaywallForbidden(),
        "_PaywallForbidden",
    ),
    "the code still answers its base class": (
        [403, _PaywallForbidden],
        Forbidden(),
        "403",
    ),
    "the code beats HTTPException": ([HTTPException, 403], _PaywallForbidden(), "403"),
    "the class beats its own code": ([403, Forbidden], Forbidden(), "Forbidden"),
}


@pytest.mark.parametrize(("keys", "raised", "expected"), PRECEDENCE.values(), ids=PRECEDENCE.keys())
def test_errorhandler_precedence_follows_flask(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    keys: list[Any],
    raised: Exception,
    expected: str,
) -> None:
    app = app_factory()
    for key in keys:
        name = str(key) if isinstance(key, int) else key.__name__
        app.errorhandler(key)(lambda request, exc, name=name: (name, 418))

    @app.route("/")
    def view(request: Request) -> str:
        raise raised

    assert client_for(app).get("/").text == expected


def test_failing_errorhandler_falls_back_to_500(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = app_factory()

    @app.errorhandler(404)
    def broken(request: Request, exc: Exception) -> str:
        raise ValueError("handler bug")

    with caplog.at_level(logging.ERROR, logger="lback_mw.errors"):
        response = client_for(app).get("/missing")
    assert response.status_code == 500
    assert "Error handler" in caplog.text
    assert "broken" in caplog.text


@pytest.mark.parametrize("entered", list(itertools.product([False, True], repeat=2)))
def test_process_exception_exception_becomes_500(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    entered: tuple[bool, bool],
) -> None:
    class Faulty(BaseMiddleware):
        def process_exception(self, request: Request, exc: Exception) -> None:
            raise ValueError("exception handler broke")

    app = app_factory(MIDDLEWARES=[Faulty] if entered[0] else [])
    if entered[1]:
        app.errorhandler(ValueError)(lambda request, exc: ("value error handled", 503))

    @app.route("/")
    def view(request: Request) -> str:
        raise RuntimeError("view failed")

    response = client_for(app).get("/")
    expected = 503 if entered == (True, True) else 500
    assert response.status_code == expected


def test_middleware_not_used_raised_from_middleware_module(
    app_factory: Callable[..., App],
) -> None:
    class Optional(BaseMiddleware):
        def __init__(self) -> None:
            raise MiddlewareNotUsed

    app = app_factory(MIDDLEWARES=[Optional])
    assert app.configured_middleware == []
    assert app.skipped_middleware[0].reason == "raised MiddlewareNotUsed"


def test_propagate_exceptions_reraises_after_process_response(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    log: list[str] = []
    app = app_factory(
        MIDDLEWARES=[{"class": Recorder, "params": {"name": "m0"}}], dependencies={"log": log}
    )
    app.propagate_exceptions = True

    @app.route("/boom")
    def boom(request: Request) -> str:
        raise RuntimeError("for the debugger")

    app.errorhandler(KeyError)(lambda request, exc: ("handled", 400))
    missing: dict[str, str] = {}
    app.route("/key")(lambda request: missing["key"])
    client = client_for(app)
    with pytest.raises(RuntimeError, match="for the debugger"):
        client.get("/boom")
    assert log[-1] == "m0.response:500"  # the response hooks ran first
    assert client.get("/key").status_code == 400  # handled errors are not re-raised
    assert client.get("/missing").status_code == 404  # nor HTTP errors


class _Wsgi:
    def __call__(self, environ: Any, start_response: Any) -> Any:
        return []


async def _async_middleware(request: Request, call_next: CallNext) -> WerkzeugResponse:
    return call_next(request)


@pytest.mark.parametrize(
    ("middleware", "message"),
    [
        pytest.param(
            lambda request: None, "must take (request, call_next), got (request)", id="arity"
        ),
        pytest.param(_async_middleware, "is defined with 'async def'", id="async function"),
        pytest.param(_Wsgi(), "is a WSGI middleware", id="WSGI app instance"),
        pytest.param(object(), "implements no middleware hook", id="plain object"),
    ],
)
def test_use_refuses_what_it_cannot_run(
    app_factory: Callable[..., App], middleware: Any, message: str
) -> None:
    app = app_factory()
    with pytest.raises(ImproperlyConfigured) as info:
        app.use(middleware)
    assert str(info.value).startswith("app.use[0]")
    assert message in str(info.value)


def test_use_accepts_a_call_next_instance_and_a_partial(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    log: list[str] = []

    class Around:
        def __call__(self, request: Request, call_next: CallNext) -> WerkzeugResponse:
            log.append("instance")
            return call_next(request)

    def tagged(tag: str, request: Request, call_next: CallNext) -> WerkzeugResponse:
        log.append(tag)
        return call_next(request)

    app = app_factory()
    app.use(Around())
    app.use(functools.partial(tagged, "partial"))
    app.route("/")(lambda request: "ok")
    assert client_for(app).get("/").text == "ok"
    assert log == ["instance", "partial"]


class _Replacing(BaseMiddleware):
    """Answers with a response of its own on the way out."""

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        return Response(f"replaced a {response.status_code}", status=201)


def test_a_process_response_may_answer_with_another_response(
    app_factory: Callable[..., App], client_for: Callable[[App], Client]
) -> None:
    # The outer recorder sees the replacement, and so does the client: a response
    # that is not the one the hook was given is still a response.
    log: list[str] = []
    app = app_factory(
        MIDDLEWARES=[{"class": Recorder, "params": {"name": "outer"}}, _Replacing],
        dependencies={"log": log},
    )
    app.route("/")(lambda request: "ok")
    response = client_for(app).get("/")
    assert (response.status_code, response.text) == (201, "replaced a 200")
    assert log[-1] == "outer.response:201"


def test_a_view_error_keeps_the_error_it_was_raised_from(
    app_factory: Callable[..., App],
    client_for: Callable[[App], Client],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The first failure of a request has no earlier one to chain to: Python's own
    # context (raised while handling another exception) must survive.
    app = app_factory()

    @app.route("/")
    def view(request: Request) -> str:
        empty: dict[str, str] = {}
        try:
            empty["missing"]
        except KeyError:
            # Implicitly chained, as most code is: the context is what must survive.
            raise ValueError("raised while handling a KeyError")  # noqa: B904
        return "unreachable"

    with caplog.at_level(logging.ERROR, logger="lback_mw.errors"):
        assert client_for(app).get("/").status_code == 500
    logged = caplog.records[-1].exc_text or ""
    assert "KeyError: 'missing'" in logged
    assert "During handling of the above exception" in logged
