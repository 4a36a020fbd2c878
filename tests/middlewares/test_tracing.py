"""TracingMiddleware: real spans through the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from werkzeug.test import TestResponse
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request, Response
from lback_mw.checks import check_app
from lback_mw.testing import Client

from ..serving import Server, serve

TRACING = "lback_mw.middlewares.TracingMiddleware"
# A client's span: trace 0af7..., span b7ad..., sampled.
CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
CLIENT_PARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


class Deny(BaseMiddleware):
    """Answers 401 on its own for /admin, and notes what routing knew by then."""

    seen_rule: Any = "unset"

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        if request.path.startswith("/admin"):
            Deny.seen_rule = request.url_rule
            return Response("no", status=401)
        return None


class Rescue(BaseMiddleware):
    """Answers a failing view with 503 itself: the span must still show the failure."""

    def process_exception(self, request: Request, exc: Exception) -> WerkzeugResponse | None:
        return Response("later", status=503) if request.path == "/users/13" else None


class BrokenResponse(BaseMiddleware):
    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        if request.path == "/users/7":
            raise LookupError("no such header")
        return response


@pytest.fixture
def build(app_factory: Callable[..., App], provider: TracerProvider) -> Callable[..., App]:
    def build(
        *inner: Any, params: dict[str, Any] | None = None, outer: tuple[Any, ...] = ()
    ) -> App:
        app = app_factory(
            MIDDLEWARES=[*outer, {"class": TRACING, "params": params or {}}, *inner],
            dependencies={"tracer_provider": provider},
        )

        @app.route("/users/<int:id>", methods=["GET", "POST"])
        def user(request: Request, id: int) -> dict[str, Any]:
            if id == 0:
                raise RuntimeError("user 0 is cursed")
            if id == 13:
                raise ValueError("unlucky")
            span = trace.get_current_span()
            return {"id": id, "current_trace": f"{span.get_span_context().trace_id:032x}"}

        @app.route("/admin/<name>")
        def admin(request: Request, name: str) -> str:
            return "secret"

        return app

    return build


def payload(response: TestResponse) -> dict[str, Any]:
    data = response.json
    assert isinstance(data, dict)
    return data


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = exporter.get_finished_spans()
    return span


def test_span_is_named_after_the_route_and_carries_it(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    client = Client(build(), lint=True)
    response = client.get(
        "/users/5?tab=orders",
        headers={"User-Agent": "probe/1.0", "Host": "shop.example:8443"},
        environ_base={"REMOTE_ADDR": "203.0.113.7"},
    )
    assert response.status_code == 200
    span = only_span(exporter)
    assert span.name == "GET /users/<int:id>"
    assert span.kind is SpanKind.SERVER
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/users/<int:id>",
        "http.response.status_code": 200,
        "url.scheme": "http",
        "url.path": "/users/5",
        "url.query": "tab=orders",
        "server.address": "shop.example",
        "server.port": 8443,
        "client.address": "203.0.113.7",
        "user_agent.original": "probe/1.0",
        "network.protocol.version": "1.1",
    }
    # The span is the current one in the view, and no longer after the request.
    assert payload(response)["current_trace"] == f"{span.context.trace_id:032x}"
    assert not trace.get_current_span().get_span_context().is_valid


def test_404_is_named_by_method_only_and_is_no_error(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    assert Client(build()).get("/no/such/page").status_code == 404
    span = only_span(exporter)
    assert span.name == "GET"
    assert "http.route" not in (span.attributes or {})
    assert span.attributes
    assert span.attributes["http.response.status_code"] == 404
    assert span.status.status_code is StatusCode.UNSET
    assert span.events == ()  # a 404 is an answer, not an exception to report


def test_500_records_the_exception_and_the_error_status(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    assert Client(build()).get("/users/0").status_code == 500
    span = only_span(exporter)
    assert span.name == "GET /users/<int:id>"
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes
    assert span.attributes["error.type"] == "RuntimeError"
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes
    assert event.attributes["exception.message"] == "user 0 is cursed"


@pytest.mark.parametrize(
    ("path", "status", "error_type"),
    [
        pytest.param("/users/13", 503, "ValueError", id="an inner process_exception answered"),
        pytest.param("/users/7", 500, "LookupError", id="an inner process_response raised"),
    ],
)
def test_failures_answered_inside_are_recorded(
    build: Callable[..., App],
    exporter: InMemorySpanExporter,
    path: str,
    status: int,
    error_type: str,
) -> None:
    app = build(f"{__name__}.BrokenResponse", f"{__name__}.Rescue")
    assert Client(app).get(path).status_code == status
    span = only_span(exporter)
    assert [event.attributes and event.attributes["exception.type"] for event in span.events] == [
        error_type
    ]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes
    assert span.attributes["error.type"] == error_type


def test_short_circuit_ends_the_span_with_that_response(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    Deny.seen_rule = "unset"
    assert Client(build(f"{__name__}.Deny")).get("/admin/users").status_code == 401
    span = only_span(exporter)
    assert span.attributes
    assert span.attributes["http.response.status_code"] == 401
    assert span.status.status_code is StatusCode.UNSET
    # The route is on the span exactly when routing had matched by then.
    assert Deny.seen_rule != "unset"
    route = None if Deny.seen_rule is None else Deny.seen_rule.rule
    assert span.attributes.get("http.route") == route
    assert span.name == ("GET" if route is None else f"GET {route}")


def test_traceparent_from_the_client_is_the_parent(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    response = Client(build()).get("/users/5", headers={"traceparent": CLIENT_PARENT})
    span = only_span(exporter)
    assert f"{span.context.trace_id:032x}" == CLIENT_TRACE
    assert span.parent is not None
    assert span.parent.is_remote
    assert f"{span.parent.span_id:016x}" == CLIENT_SPAN
    assert payload(response)["current_trace"] == CLIENT_TRACE


def test_the_next_request_on_a_thread_does_not_inherit_the_trace(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    client = Client(build())
    client.get("/users/5", headers={"traceparent": CLIENT_PARENT})
    client.get("/users/6")
    first, second = exporter.get_finished_spans()
    assert second.parent is None
    assert second.context.trace_id != first.context.trace_id


def test_concurrent_requests_each_keep_their_own_parent(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    app = build()
    traces = [f"{n:032x}" for n in range(1, 41)]

    def call(trace_id: str) -> str:
        response = Client(app).get(
            "/users/5", headers={"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"}
        )
        return str(payload(response)["current_trace"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        seen = list(pool.map(call, traces))
    assert seen == traces
    assert sorted(f"{span.context.trace_id:032x}" for span in exporter.get_finished_spans()) == (
        traces
    )


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("00-zz-b7ad6b7169203331-01", id="not hex"),
        pytest.param(f"00-{'0' * 32}-{CLIENT_SPAN}-01", id="all-zero trace id"),
        pytest.param("\x1b[31m;DROP", id="garbage"),
    ],
)
def test_a_malformed_traceparent_starts_a_new_trace(
    build: Callable[..., App], exporter: InMemorySpanExporter, header: str
) -> None:
    assert Client(build()).get("/users/5", headers={"traceparent": header}).status_code == 200
    span = only_span(exporter)
    assert span.parent is None
    assert span.context.trace_id != 0


def test_an_unknown_method_does_not_name_a_span(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    Client(build()).open("/users/5", method="BREW")
    span = only_span(exporter)
    assert span.attributes
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "BREW"
    assert span.name == "HTTP"


def test_layer_spans_are_off_by_default(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    Client(build("lback_mw.middlewares.TimingMiddleware")).get("/users/5")
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /users/<int:id>"]


def test_layer_spans_are_children_of_the_request_span(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    app = build(
        "lback_mw.middlewares.TimingMiddleware",
        f"{__name__}.BrokenResponse",
        params={"layer_spans": True},
        outer=("lback_mw.middlewares.RequestIDMiddleware",),
    )
    assert Client(app).get("/users/7").status_code == 500
    spans = {span.name: span for span in exporter.get_finished_spans()}
    server = spans.pop("GET /users/<int:id>")
    # The request id is outside the request span: its hooks get no span of their own.
    assert sorted(spans) == [
        "BrokenResponse.process_response",
        "TimingMiddleware.process_request",
        "TimingMiddleware.process_response",
    ]
    for span in spans.values():
        assert span.parent is not None
        assert span.parent.span_id == server.context.span_id
        assert span.context.trace_id == server.context.trace_id
    broken = spans["BrokenResponse.process_response"]
    assert broken.status.status_code is StatusCode.ERROR
    assert broken.attributes
    assert broken.attributes["lback_mw.middleware"] == "MIDDLEWARES[3]"
    assert broken.attributes["code.function"] == "process_response"


def test_layer_spans_wrap_call_next_middleware(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    app = build(params={"layer_spans": True})

    @app.middleware
    def stamp(request: Request, call_next: Callable[[Request], WerkzeugResponse]) -> Any:
        response = call_next(request)
        response.headers["X-Stamp"] = "1"
        return response

    response = Client(app).get("/users/5")
    assert response.headers["X-Stamp"] == "1"
    names = sorted(span.name for span in exporter.get_finished_spans())
    assert names == ["GET /users/<int:id>", "stamp.__call__"]


def test_request_id_takes_the_trace_id_and_answers_traceresponse(
    build: Callable[..., App], exporter: InMemorySpanExporter
) -> None:
    client = Client(build("lback_mw.middlewares.RequestIDMiddleware"), lint=True)
    response = client.get("/users/5", headers={"traceparent": CLIENT_PARENT})
    span = only_span(exporter)
    assert response.headers["X-Request-ID"] == CLIENT_TRACE
    assert response.headers["traceresponse"] == (
        f"00-{CLIENT_TRACE}-{span.context.span_id:016x}-01"
    )
    # An id the client sent still wins: it is what its own logs carry.
    response = client.get(
        "/users/5", headers={"traceparent": CLIENT_PARENT, "X-Request-ID": "lb-1"}
    )
    assert response.headers["X-Request-ID"] == "lb-1"


def test_request_id_ignores_a_client_trace_when_incoming_ids_are_not_trusted(
    build: Callable[..., App],
) -> None:
    app = build(
        {"class": "lback_mw.middlewares.RequestIDMiddleware", "params": {"trust_incoming": False}}
    )
    response = Client(app).get("/users/5", headers={"traceparent": CLIENT_PARENT})
    assert response.headers["X-Request-ID"] != CLIENT_TRACE
    assert response.headers["traceresponse"].startswith(f"00-{CLIENT_TRACE}-")


def test_without_an_sdk_no_placeholder_trace_id_becomes_the_request_id(
    app_factory: Callable[..., App],
) -> None:
    app = app_factory(
        MIDDLEWARES=[TRACING, "lback_mw.middlewares.RequestIDMiddleware"],
        dependencies={"tracer_provider": trace.NoOpTracerProvider()},
    )
    app.route("/")(lambda request: "ok")
    client = Client(app)
    first, second = client.get("/"), client.get("/")
    assert "traceresponse" not in first.headers
    # The API's spans all have the all-zero trace id: it must not be every request's id.
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_layer_spans_without_the_app_is_refused() -> None:
    from lback_mw.middlewares.tracing import TracingMiddleware

    with pytest.raises(ImproperlyConfigured, match=r"parameter 'layer_spans'.*'app'"):
        TracingMiddleware(layer_spans=True)


def test_request_id_without_tracing_sends_no_traceresponse(app_factory: Callable[..., App]) -> None:
    app = app_factory(MIDDLEWARES=["lback_mw.middlewares.RequestIDMiddleware"])
    app.route("/")(lambda request: "ok")
    response = Client(app).get("/", headers={"traceparent": CLIENT_PARENT})
    assert "traceresponse" not in response.headers
    assert response.headers["X-Request-ID"] != CLIENT_TRACE


def test_access_log_carries_the_trace_id(
    build: Callable[..., App], caplog: pytest.LogCaptureFixture
) -> None:
    app = build({"class": "lback_mw.middlewares.AccessLogMiddleware", "params": {"format": "json"}})
    with caplog.at_level(logging.INFO, logger="lback_mw.access"):
        Client(app).get("/users/5", headers={"traceparent": CLIENT_PARENT})
    [record] = [r for r in caplog.records if r.name == "lback_mw.access"]
    assert json.loads(record.getMessage())["trace_id"] == CLIENT_TRACE
    assert getattr(record, "trace_id", None) == CLIENT_TRACE  # for %(trace_id)s in a formatter


def test_check_warns_when_the_request_id_comes_before_tracing(
    app_factory: Callable[..., App], provider: TracerProvider
) -> None:
    app = app_factory(
        MIDDLEWARES=["lback_mw.middlewares.RequestIDMiddleware", TRACING],
        dependencies={"tracer_provider": provider},
    )
    [warning] = check_app(app)
    assert "trace id" in warning.message
    assert "MIDDLEWARES[1]" in warning.message


# -- over real HTTP: gunicorn workers, spans written to a file -----------------------

SERVED_SETTINGS = """
SECRET_KEY = "tracing-test-secret-key-not-for-production-use"
ROUTES = "tracedproj.routes"
DEPENDENCIES = {"tracer_provider": "tracedproj.otel.provider"}
MIDDLEWARES = [
    "lback_mw.middlewares.TracingMiddleware",
    "lback_mw.middlewares.RequestIDMiddleware",
]
"""

SERVED_ROUTES = """
from lback_mw import Route

routes = [Route("/users/<int:id>", lambda request, id: {"id": id}, endpoint="user")]
"""

# One JSON span per line, appended by every worker as each span ends.
SERVED_OTEL = """
import os

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor


def provider():
    out = open(os.environ["SPANS_FILE"], "a", encoding="utf-8")
    exporter = ConsoleSpanExporter(
        out=out, formatter=lambda span: span.to_json(indent=None) + "\\n"
    )
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    root = tmp_path_factory.mktemp("tracedproj")
    package = root / "tracedproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SERVED_SETTINGS)
    (package / "routes.py").write_text(SERVED_ROUTES)
    (package / "otel.py").write_text(SERVED_OTEL)
    spans = root / "spans.jsonl"
    spans.touch()
    with serve(root, "tracedproj.settings", workers=2, env={"SPANS_FILE": str(spans)}) as server:
        yield server, spans


def spans_of_trace(spans: Path, trace_id: str) -> list[dict[str, Any]]:
    """The spans of ``trace_id`` in the file, once a worker has written one (bounded wait)."""
    deadline = time.monotonic() + 10
    while True:
        found = [
            span
            for span in map(json.loads, spans.read_text(encoding="utf-8").splitlines())
            if span["context"]["trace_id"] == f"0x{trace_id}"
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_over_gunicorn_the_client_trace_goes_on_and_comes_back(
    served: tuple[Server, Path],
) -> None:
    server, spans = served
    trace_id = "5b8efff798038103d269b633813fc60c"
    result = server.get("/users/5", {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"})
    assert result.status == 200
    assert result.headers["X-Request-ID"] == trace_id
    [span] = spans_of_trace(spans, trace_id)
    assert span["name"] == "GET /users/<int:id>"
    assert span["kind"] == "SpanKind.SERVER"
    assert span["parent_id"] == f"0x{CLIENT_SPAN}"
    assert span["attributes"]["http.route"] == "/users/<int:id>"
    assert span["attributes"]["url.path"] == "/users/5"
    assert span["attributes"]["client.address"] == "127.0.0.1"
    assert result.headers["traceresponse"] == (f"00-{trace_id}-{span['context']['span_id'][2:]}-01")
