"""What does a no-op middleware layer cost in lback_mw, against werkzeug, Falcon and Django?

Run from the repository root::

    python bench/middleware_overhead.py            # ~30 s: 7 runs of ~0.3 s per scenario
    python bench/middleware_overhead.py --quick    # ~8 s: 3 runs of ~0.1 s (a smoke run)
    python bench/middleware_overhead.py --json     # machine-readable

Every figure is the median time of one in-process WSGI call (see ``bench/harness.py``);
the scenarios themselves are in ``bench/scenarios.py``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as ``python bench/middleware_overhead.py``: make ``bench`` importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scenarios
from bench.harness import BODY, Scenario, build_environ, call_once, measure

#: (key, description, builder, path): the scenarios of this benchmark, in report order.
SCENARIOS: list[tuple[str, str, Callable[[], Any], str]] = [
    ("null", "bare WSGI function (harness floor)", scenarios.null_wsgi, "/hello"),
    ("werkzeug", "werkzeug Request + Response", scenarios.werkzeug_bare, "/hello"),
    ("lback0", "lback_mw, 0 layers", lambda: scenarios.lback(0), "/hello"),
    ("lback1", "lback_mw, 1 layer", lambda: scenarios.lback(1), "/hello"),
    ("lback10", "lback_mw, 10 layers", lambda: scenarios.lback(10), "/hello"),
    ("lback30", "lback_mw, 30 layers", lambda: scenarios.lback(30), "/hello"),
    (
        "lback10_dynamic",
        "lback_mw, 10 layers, /users/<int:id>",
        lambda: scenarios.lback(10),
        "/users/42",
    ),
    ("falcon0", "falcon, 0 layers", lambda: scenarios.falcon_app(0), "/hello"),
    ("falcon10", "falcon, 10 layers", lambda: scenarios.falcon_app(10), "/hello"),
    ("django0", "django, 0 layers", lambda: scenarios.django_noop(0), "/hello"),
    ("django10", "django, 10 layers", lambda: scenarios.django_noop(10), "/hello"),
]


Formula = Callable[[dict[str, float]], float]


#: Each run is cut into this many slices, interleaved with the other scenarios.
SLICES = 10


@dataclass
class Figure:
    """A number derived from the timings, with its target if it has one.

    ``formula`` is applied to the timings of each round separately (the scenarios
    of one round ran interleaved over the same seconds), and ``value`` is the
    median of those per-round values.
    """

    key: str
    label: str
    formula: Formula
    unit: str
    target: float | None = None
    per_run: list[float] = field(default_factory=list)
    #: The formula applied to every scenario's fastest run (for information).
    best: float = 0.0

    @property
    def value(self) -> float:
        return statistics.median(self.per_run)

    @property
    def passed(self) -> bool | None:
        return None if self.target is None else self.value <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": round(self.value, 4),
            "unit": self.unit,
            "target": self.target,
            "passed": self.passed,
            "per_run": [round(value, 4) for value in self.per_run],
            "from_best_runs": round(self.best, 4),
        }


#: What the script derives from the timings (microseconds per request, ``t``).
FIGURES: list[tuple[str, str, Formula, str, float | None]] = [
    (
        "per_layer_30",
        "lback_mw per layer, (t30 - t0) / 30",
        lambda t: (t["lback30"] - t["lback0"]) / 30,
        "us",
        0.1,
    ),
    (
        "per_layer_10",
        "lback_mw per layer, (t10 - t0) / 10",
        lambda t: (t["lback10"] - t["lback0"]) / 10,
        "us",
        0.1,
    ),
    (
        "falcon_per_layer_10",
        "falcon per layer, (t10 - t0) / 10",
        lambda t: (t["falcon10"] - t["falcon0"]) / 10,
        "us",
        None,
    ),
    (
        "django_per_layer_10",
        "django per layer, (t10 - t0) / 10",
        lambda t: (t["django10"] - t["django0"]) / 10,
        "us",
        None,
    ),
    (
        "lback10_over_werkzeug",
        "lback10 / werkzeug",
        lambda t: t["lback10"] / t["werkzeug"],
        "x",
        1.3,
    ),
    (
        "lback10_over_django10",
        "lback10 / django10",
        lambda t: t["lback10"] / t["django10"],
        "x",
        0.25,
    ),
    (
        "lback10_over_falcon10",
        "lback10 / falcon10",
        lambda t: t["lback10"] / t["falcon10"],
        "x",
        None,
    ),
    (
        "lback10_dynamic_over_werkzeug",
        "lback10 /users/<int:id> / werkzeug",
        lambda t: t["lback10_dynamic"] / t["werkzeug"],
        "x",
        None,
    ),
]


def derive(results: Sequence[Scenario]) -> list[Figure]:
    """Every entry of :data:`FIGURES`, computed round by round."""
    rounds = min(len(scenario.runs_us) for scenario in results)
    figures = []
    for key, label, formula, unit, target in FIGURES:
        figure = Figure(key, label, formula, unit, target)
        for index in range(rounds):
            timings = {scenario.name: scenario.runs_us[index] for scenario in results}
            figure.per_run.append(formula(timings))
        figure.best = formula({scenario.name: scenario.best_us for scenario in results})
        figures.append(figure)
    return figures


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, Any]:
    import os

    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "versions": {name: _version(name) for name in ("lback_mw", "werkzeug", "falcon", "django")},
    }


def build_scenarios() -> list[Scenario]:
    built = []
    for key, description, builder, path in SCENARIOS:
        scenario = Scenario(key, description, builder(), build_environ(path))
        status, body = call_once(scenario.app, scenario.environ)
        if not status.startswith("200") or body != BODY.encode():
            raise SystemExit(
                f"scenario {key!r} is broken: GET {path} answered {status!r} {body[:200]!r}"
            )
        built.append(scenario)
    return built


def _mark(passed: bool | None) -> str:
    return "" if passed is None else ("PASS" if passed else "FAIL")


def _format(value: float, unit: str) -> str:
    return f"{value:.3f} us" if unit == "us" else f"{value:.3f}x"


def report_text(
    results: list[Scenario], figures: list[Figure], env: dict[str, Any], settings: dict[str, Any]
) -> str:
    versions = ", ".join(f"{name} {ver}" for name, ver in env["versions"].items())
    load = " ".join(str(value) for value in env["load_average"])
    lines = [
        "lback_mw middleware overhead: in-process WSGI calls, GET, microseconds per request",
        f"{env['date']} | {env['python']} | {env['platform']} | {env['cpus']} CPUs | load {load}",
        versions,
        f"{settings['runs']} runs per scenario of ~{settings['seconds']} s, interleaved in "
        f"{settings['slices']} slices; median = median run, best = fastest run",
        "",
        f"{'scenario':<38} {'median':>8} {'best':>8} {'spread':>8} {'req/run':>9}",
    ]
    for scenario in results:
        lines.append(
            f"{scenario.description:<38} {scenario.us:>8.2f} {scenario.best_us:>8.2f} "
            f"{scenario.spread_us:>8.2f} {scenario.n:>9}"
        )
    lines += ["", f"{'derived (median of per-run values)':<38} {'median':>8} {'best':>8}  target"]
    for figure in figures:
        target = "" if figure.target is None else f"<= {figure.target:g}  {_mark(figure.passed)}"
        lines.append(
            f"{figure.label:<38} {_format(figure.value, figure.unit):>8} "
            f"{_format(figure.best, figure.unit):>8}  {target}".rstrip()
        )
    failed = [figure.label for figure in figures if figure.passed is False]
    lines.append("")
    lines.append("all targets met" if not failed else "targets missed: " + "; ".join(failed))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--quick", action="store_true", help="3 runs of ~0.1 s per scenario (a smoke run)"
    )
    parser.add_argument("--runs", type=int, help="runs per scenario (default 7, quick 3)")
    parser.add_argument(
        "--seconds", type=float, help="target duration of one run (default 0.3, quick 0.1)"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit with status 1 when a target is missed"
    )
    args = parser.parse_args(argv)

    runs = args.runs or (3 if args.quick else 7)
    seconds = args.seconds or (0.1 if args.quick else 0.3)
    settings = {"runs": runs, "seconds": seconds, "slices": SLICES, "quick": args.quick}

    def progress(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    env = environment()  # before the run: the load average then is other processes'
    results = build_scenarios()
    measure(
        results,
        runs=runs,
        target_seconds=seconds,
        warmup_seconds=min(0.2, seconds),
        slices=SLICES,
        progress=progress,
    )
    figures = derive(results)
    if args.json:
        print(
            json.dumps(
                {
                    "environment": env,
                    "settings": settings,
                    "scenarios": {scenario.name: scenario.as_dict() for scenario in results},
                    "derived": {figure.key: figure.as_dict() for figure in figures},
                    "all_targets_met": all(figure.passed is not False for figure in figures),
                },
                indent=2,
            )
        )
    else:
        print(report_text(results, figures, env, settings))
    if args.check and any(figure.passed is False for figure in figures):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
