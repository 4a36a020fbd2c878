"""What does TracingMiddleware cost per request, and ``layer_spans`` per layer?

Run from the repository root (the ``tracing`` extra and ``opentelemetry-sdk``
installed)::

    python bench/tracing.py            # ~25 s
    python bench/tracing.py --quick    # a smoke run

Spans go to the OpenTelemetry SDK's ``TracerProvider`` with every span sampled
and no exporter: what is timed is the middleware and the SDK building, naming
and ending real spans, not an exporter's network (a ``BatchSpanProcessor``
exports from its own thread). Every request is ``GET /users/42``, so the span is
named after the route ``/users/<int:id>``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as ``python bench/tracing.py``: make ``bench`` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.sdk.trace import TracerProvider

from bench import scenarios
from bench.runner import Case, FigureSpec, main

#: Samples everything, exports nothing.
PROVIDER = TracerProvider()
PATH = "/users/42"


def traced(layers: int, layer_spans: bool) -> Any:
    """``layers`` no-op middleware inside a TracingMiddleware."""
    tracing = {
        "class": "lback_mw.middlewares.TracingMiddleware",
        "params": {"layer_spans": layer_spans},
    }
    return scenarios.lback(
        layers,
        [tracing, *[scenarios.NoopMiddleware] * layers],
        dependencies={"tracer_provider": PROVIDER},
    )


#: The scenarios of this benchmark, in report order.
CASES = [
    Case("lback0", "lback_mw, 0 layers", lambda: scenarios.lback(0), PATH),
    Case("traced0", "tracing, 0 layers", lambda: traced(0, False), PATH),
    Case("lback10", "lback_mw, 10 layers", lambda: scenarios.lback(10), PATH),
    Case("traced10", "tracing, 10 layers", lambda: traced(10, False), PATH),
    Case("spans10", "tracing, 10 layers, layer_spans", lambda: traced(10, True), PATH),
]

FIGURES = [
    FigureSpec(
        "tracing_per_request",
        "TracingMiddleware per request, traced0 - lback0",
        lambda t: t["traced0"] - t["lback0"],
        "us",
    ),
    FigureSpec(
        "tracing_per_request_10",
        "TracingMiddleware per request over 10 layers, traced10 - lback10",
        lambda t: t["traced10"] - t["lback10"],
        "us",
    ),
    FigureSpec(
        "layer_spans_per_layer",
        "layer_spans per layer (2 hooks, 2 spans), (spans10 - traced10) / 10",
        lambda t: (t["spans10"] - t["traced10"]) / 10,
        "us",
    ),
    FigureSpec(
        "traced0_over_lback0", "traced0 / lback0", lambda t: t["traced0"] / t["lback0"], "x"
    ),
]

TITLE = "TracingMiddleware: in-process WSGI calls, GET /users/42, microseconds per request"

if __name__ == "__main__":
    sys.exit(main(TITLE, CASES, FIGURES))
