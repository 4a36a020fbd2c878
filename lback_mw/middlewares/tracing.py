"""OpenTelemetry server spans named after the matched route, not the raw path.

Not ``opentelemetry-instrumentation-wsgi``: a WSGI wrapper sits outside the app
and never learns which rule matched, so its spans are named by method alone and
carry no ``http.route``. Inside the chain ``request.url_rule`` is known by the
time the span ends, and the hooks of each layer can get spans of their own
(``layer_spans``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from importlib.metadata import version
from typing import Any, ClassVar, Protocol

from opentelemetry import context, propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as WerkzeugResponse

from ..exceptions import ImproperlyConfigured
from ..layers import HookWrapper, Layer
from ..pipeline import EXCEPTION_KEY
from ..wrappers import Request
from .base import BaseMiddleware

# Per-request state lives in the environ: the instance is shared between threads.
_SPAN_KEY = "lback_mw.tracing.span"
_TOKEN_KEY = "lback_mw.tracing.token"  # noqa: S105 - an environ key (the context token), no secret
_RECORDED_KEY = "lback_mw.tracing.recorded"

#: The methods semantic conventions name; any other is ``_OTHER`` (an attacker's
#: made-up method must not mint a new span name per request).
_KNOWN_METHODS = frozenset(
    ("CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE")
)


class _EnvironGetter(Getter[Mapping[str, Any]]):
    """Reads propagation headers (``traceparent``, ``tracestate``) from a WSGI environ."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(f"HTTP_{key.upper().replace('-', '_')}")
        return None if value is None else [value]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [key[5:].lower().replace("_", "-") for key in carrier if key.startswith("HTTP_")]


_GETTER = _EnvironGetter()
_VERSION = version("lback_mw")


class _Instrumentable(Protocol):
    """The part of :class:`~lback_mw.App` that ``layer_spans`` needs."""

    def instrument_hooks(self, wrapper: HookWrapper) -> None: ...


def traceparent(span: Span) -> str:
    """The W3C ``traceparent`` value naming ``span`` as the parent."""
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


class TracingMiddleware(BaseMiddleware):
    """One server span per request, named ``GET /users/<int:id>``.

    The parent comes from the request's ``traceparent`` header (the configured
    OpenTelemetry propagator, W3C Trace Context by default). The span carries the
    stable HTTP semantic-convention attributes, ``http.route`` (the rule, never
    the path), the status (error for 5xx only, as for every server span), and the
    exception that became the response. ``request.trace_id`` and
    ``request.traceparent`` are set for the middleware inside (the request id, the
    access log) and for calls the view makes.

    :param tracer_provider: where spans go; the global provider when ``None``
        (injected by name, so a project or a test can ``app.provide`` its own).
    :param layer_spans: also one child span per hook call of every middleware
        inside this one (off by default: it costs about as much again per layer).
    :param app: injected; needed by ``layer_spans`` only.
    """

    ordering_role: ClassVar[str] = "tracing"

    def __init__(
        self,
        *,
        tracer_provider: TracerProvider | None = None,
        layer_spans: bool = False,
        app: _Instrumentable | None = None,
    ) -> None:
        self._tracer: Tracer = trace.get_tracer("lback_mw", _VERSION, tracer_provider)
        if layer_spans:
            if app is None:
                raise ImproperlyConfigured(
                    f"{type(self).__name__}: parameter 'layer_spans' is on but no 'app' was given "
                    "to wrap the hooks of; build the middleware through create_app (which "
                    "injects 'app'), or pass app=..."
                )
            app.instrument_hooks(self._layer_span)

    def process_request(self, request: Request) -> None:
        environ = request.environ
        parent = propagate.extract(environ, getter=_GETTER)
        method = request.method
        known = method in _KNOWN_METHODS
        attributes: dict[str, Any] = {
            "http.request.method": method if known else "_OTHER",
            "url.scheme": request.scheme,
            "url.path": request.path,
        }
        protocol = environ.get("SERVER_PROTOCOL", "").partition("/")[2]  # "HTTP/1.1"
        if protocol:
            attributes["network.protocol.version"] = protocol
        if not known:
            attributes["http.request.method_original"] = method
        if request.query_string:
            attributes["url.query"] = request.query_string.decode("latin-1")
        host, colon, port = request.host.rpartition(":")
        if colon and port.isdigit():
            attributes["server.address"] = host.strip("[]")
            attributes["server.port"] = int(port)
        else:
            attributes["server.address"] = request.host.strip("[]")
        if request.remote_addr:
            attributes["client.address"] = request.remote_addr
        agent = environ.get("HTTP_USER_AGENT")
        if agent:
            attributes["user_agent.original"] = agent
        span = self._tracer.start_span(
            _span_name(method),
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
        )
        environ[_SPAN_KEY] = span
        environ[_TOKEN_KEY] = context.attach(trace.set_span_in_context(span, parent))
        span_context = span.get_span_context()
        # Without an SDK the API's spans are all-zero placeholders: no trace to name.
        if span_context.is_valid:
            request.trace_id = f"{span_context.trace_id:032x}"
            request.traceparent = traceparent(span)

    def process_exception(self, request: Request, exc: Exception) -> None:
        # Here, not only from EXCEPTION_KEY: a layer inside that handles the
        # failure (the database session rolling back) clears that key.
        environ = request.environ
        _record(environ[_SPAN_KEY], environ, exc)

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        environ = request.environ
        span: Span = environ.pop(_SPAN_KEY)
        late = environ.get(EXCEPTION_KEY)
        if late is not None:  # a process_response inside failed, or an error handler ran
            _record(span, environ, late)
        rule = request.url_rule
        if rule is not None:
            span.set_attribute("http.route", rule.rule)
            span.update_name(f"{_span_name(request.method)} {rule.rule}")
        status = response.status_code
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            error = environ.get(_RECORDED_KEY)
            span.set_attribute(
                "error.type", str(status) if error is None else _qualified_name(error)
            )
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        context.detach(environ.pop(_TOKEN_KEY))
        return response

    def _layer_span(
        self, layer: Layer, hook_name: str, hook: Callable[..., Any]
    ) -> Callable[..., Any]:
        if layer.instance is self:
            return hook
        tracer = self._tracer
        name = f"{layer.path.rpartition('.')[2]}.{hook_name}"
        attributes = {
            "code.namespace": layer.path,
            "code.function": hook_name,
            "lback_mw.middleware": layer.label,
        }

        @wraps(hook)  # the hook's own signature stays readable through __wrapped__
        def traced(request: Request, *args: Any) -> Any:
            # Outside this middleware (or before its process_request) there is no
            # request span to hang a child on: run the hook as it is.
            if _SPAN_KEY not in request.environ:
                return hook(request, *args)
            with tracer.start_as_current_span(name, attributes=attributes):
                return hook(request, *args)

        return traced


def _span_name(method: str) -> str:
    # Semantic conventions: "{method} {route}", "HTTP" for a method they do not name.
    return method if method in _KNOWN_METHODS else "HTTP"


def _record(span: Span, environ: dict[str, Any], exc: Exception) -> None:
    """Add ``exc`` to ``span`` once; an HTTP error below 500 is an answer, not a failure."""
    if environ.get(_RECORDED_KEY) is exc:
        return
    if isinstance(exc, HTTPException) and (exc.code or 500) < 500:
        return
    environ[_RECORDED_KEY] = exc
    span.record_exception(exc)


def _qualified_name(exc: BaseException) -> str:
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )
