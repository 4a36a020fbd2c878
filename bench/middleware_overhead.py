"""What does a no-op middleware layer cost in lback_mw, against werkzeug, Falcon and Django?

Run from the repository root::

    python bench/middleware_overhead.py            # ~30 s: 7 runs of ~0.3 s per scenario
    python bench/middleware_overhead.py --quick    # ~8 s: 3 runs of ~0.1 s (a smoke run)
    python bench/middleware_overhead.py --json     # machine-readable

Every figure is the median time of one in-process WSGI call (see ``bench/harness.py``);
the scenarios themselves are in ``bench/scenarios.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as ``python bench/middleware_overhead.py``: make ``bench`` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios
from bench.runner import Case, FigureSpec, main

#: The scenarios of this benchmark, in report order.
CASES = [
    Case("null", "bare WSGI function (harness floor)", scenarios.null_wsgi),
    Case("werkzeug", "werkzeug Request + Response", scenarios.werkzeug_bare),
    Case("lback0", "lback_mw, 0 layers", lambda: scenarios.lback(0)),
    Case("lback1", "lback_mw, 1 layer", lambda: scenarios.lback(1)),
    Case("lback10", "lback_mw, 10 layers", lambda: scenarios.lback(10)),
    Case("lback30", "lback_mw, 30 layers", lambda: scenarios.lback(30)),
    Case(
        "lback10_dynamic",
        "lback_mw, 10 layers, /users/<int:id>",
        lambda: scenarios.lback(10),
        "/users/42",
    ),
    Case(
        "lback10_scoped",
        "lback_mw, 10 layers, 1 with paths (decided at start-up)",
        lambda: scenarios.lback_routed(scoped=["/hello"]),
    ),
    Case(
        "lback10_scoped_dynamic",
        "lback_mw, 10 layers, 1 with paths, /users/<int:id> (checked per request)",
        lambda: scenarios.lback_routed(scoped=["/users/42"]),
        "/users/42",
    ),
    Case(
        "lback10_route",
        "lback_mw, 9 layers + 1 route layer",
        lambda: scenarios.lback_routed(route_layers=1),
    ),
    Case("falcon0", "falcon, 0 layers", lambda: scenarios.falcon_app(0)),
    Case("falcon10", "falcon, 10 layers", lambda: scenarios.falcon_app(10)),
    Case("django0", "django, 0 layers", lambda: scenarios.django_noop(0)),
    Case("django10", "django, 10 layers", lambda: scenarios.django_noop(10)),
]

#: What the script derives from the timings (microseconds per request, ``t``).
FIGURES = [
    FigureSpec(
        "per_layer_30",
        "lback_mw per layer, (t30 - t0) / 30",
        lambda t: (t["lback30"] - t["lback0"]) / 30,
        "us",
        0.1,
    ),
    FigureSpec(
        "per_layer_10",
        "lback_mw per layer, (t10 - t0) / 10",
        lambda t: (t["lback10"] - t["lback0"]) / 10,
        "us",
        0.1,
    ),
    FigureSpec(
        "scoped_layer_static",
        "a path-scoped layer on a static route, t(scoped) - t10",
        lambda t: t["lback10_scoped"] - t["lback10"],
        "us",
        0.1,
    ),
    FigureSpec(
        "scoped_layer_dynamic",
        "a path-scoped layer checked per request, t(scoped dynamic) - t10 dynamic",
        lambda t: t["lback10_scoped_dynamic"] - t["lback10_dynamic"],
        "us",
    ),
    FigureSpec(
        "route_layer",
        "a route's own layer against a global one, t(9 + 1 route) - t10",
        lambda t: t["lback10_route"] - t["lback10"],
        "us",
        0.1,
    ),
    FigureSpec(
        "falcon_per_layer_10",
        "falcon per layer, (t10 - t0) / 10",
        lambda t: (t["falcon10"] - t["falcon0"]) / 10,
        "us",
    ),
    FigureSpec(
        "django_per_layer_10",
        "django per layer, (t10 - t0) / 10",
        lambda t: (t["django10"] - t["django0"]) / 10,
        "us",
    ),
    FigureSpec(
        "lback10_over_werkzeug",
        "lback10 / werkzeug",
        lambda t: t["lback10"] / t["werkzeug"],
        "x",
        1.3,
    ),
    FigureSpec(
        "lback10_over_django10",
        "lback10 / django10",
        lambda t: t["lback10"] / t["django10"],
        "x",
        0.25,
    ),
    FigureSpec(
        "lback10_over_falcon10",
        "lback10 / falcon10",
        lambda t: t["lback10"] / t["falcon10"],
        "x",
        1.5,
    ),
    FigureSpec(
        "dynamic_over_static",
        "lback10 /users/<int:id> / lback10 /hello (converter against static route)",
        lambda t: t["lback10_dynamic"] / t["lback10"],
        "x",
        1.2,
    ),
    FigureSpec(
        "lback10_dynamic_over_werkzeug",
        "lback10 /users/<int:id> / werkzeug",
        lambda t: t["lback10_dynamic"] / t["werkzeug"],
        "x",
    ),
]

TITLE = "lback_mw middleware overhead: in-process WSGI calls, GET, microseconds per request"

if __name__ == "__main__":
    sys.exit(main(TITLE, CASES, FIGURES))
