"""The command line and report shared by every benchmark script in ``bench/``.

A script lists its :class:`Case` entries (what to time) and its :class:`FigureSpec`
entries (what to derive from the timings, with targets), then calls :func:`main`.
Timing itself is :mod:`bench.harness`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from werkzeug.test import Client

from bench.harness import BODY, Scenario, build_environ, call_once, measure

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

Formula = Callable[[dict[str, float]], float]

#: Each run is cut into this many slices, interleaved with the other scenarios.
SLICES = 10


@dataclass(frozen=True)
class Case:
    """One scenario to time: ``build()`` returns the app, called with ``GET path``.

    ``request`` holds further :class:`werkzeug.test.EnvironBuilder` arguments
    (``headers``, ``base_url``...).
    """

    key: str
    description: str
    build: Callable[[], WSGIApplication]
    path: str = "/hello"
    request: Mapping[str, Any] = field(default_factory=dict)
    #: The body every call must answer with (checked once, before timing).
    body: bytes = BODY.encode()
    #: A path to visit once before timing (as the same client, same ``request``
    #: arguments); the cookies it sets are sent with every timed call.
    cookies_from: str | None = None


@dataclass(frozen=True)
class FigureSpec:
    """A number to derive from the per-request times ``t`` (keyed by case key)."""

    key: str
    label: str
    formula: Formula
    unit: str  # "us" or "x"
    target: float | None = None


@dataclass
class Figure:
    """A :class:`FigureSpec` evaluated: ``formula`` is applied to each round
    separately (the scenarios of one round ran interleaved over the same seconds),
    and ``value`` is the median of those per-round values."""

    spec: FigureSpec
    per_run: list[float] = field(default_factory=list)
    #: The formula applied to every scenario's fastest run (for information).
    best: float = 0.0

    @property
    def value(self) -> float:
        return statistics.median(self.per_run)

    @property
    def passed(self) -> bool | None:
        target = self.spec.target
        return None if target is None else self.value <= target

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.spec.label,
            "value": round(self.value, 4),
            "unit": self.spec.unit,
            "target": self.spec.target,
            "passed": self.passed,
            "per_run": [round(value, 4) for value in self.per_run],
            "from_best_runs": round(self.best, 4),
        }


def derive(results: Sequence[Scenario], specs: Sequence[FigureSpec]) -> list[Figure]:
    """Every figure of ``specs``, computed round by round."""
    rounds = min(len(scenario.runs_us) for scenario in results)
    figures = []
    for spec in specs:
        figure = Figure(spec)
        for index in range(rounds):
            timings = {scenario.name: scenario.runs_us[index] for scenario in results}
            figure.per_run.append(spec.formula(timings))
        figure.best = spec.formula({scenario.name: scenario.best_us for scenario in results})
        figures.append(figure)
    return figures


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def environment(packages: Sequence[str]) -> dict[str, Any]:
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "versions": {name: _version(name) for name in ("lback_mw", *packages)},
    }


def build_scenarios(cases: Sequence[Case]) -> list[Scenario]:
    """Build every case's app and check one call answers 200 with the expected body."""
    built = []
    for case in cases:
        app = case.build()
        request = dict(case.request)
        if case.cookies_from is not None:
            request["headers"] = {
                **request.get("headers", {}),
                "Cookie": first_visit_cookies(app, case.cookies_from, case.request),
            }
        environ = build_environ(case.path, **request)
        scenario = Scenario(case.key, case.description, app, environ)
        status, body = call_once(scenario.app, scenario.environ)
        if not status.startswith("200") or body != case.body:
            raise SystemExit(
                f"scenario {case.key!r} is broken: GET {case.path} answered "
                f"{status!r} {body[:200]!r}, expected 200 {case.body[:200]!r}"
            )
        built.append(scenario)
    return built


def first_visit_cookies(app: WSGIApplication, path: str, request: Mapping[str, Any]) -> str:
    """The ``Cookie`` header a browser would send after visiting ``path`` once."""
    response = Client(app).get(path, **request)
    if response.status_code != 200:
        raise SystemExit(f"first visit to {path} answered {response.status!r}: {response.text!r}")
    # The "name=value" before the attributes of each Set-Cookie.
    pairs = [header.split(";", 1)[0].strip() for header in response.headers.getlist("Set-Cookie")]
    return "; ".join(pairs)


def _mark(passed: bool | None) -> str:
    return "" if passed is None else ("PASS" if passed else "FAIL")


def _format(value: float, unit: str) -> str:
    return f"{value:.3f} us" if unit == "us" else f"{value:.3f}x"


def report_text(
    title: str,
    results: list[Scenario],
    figures: list[Figure],
    env: dict[str, Any],
    settings: dict[str, Any],
) -> str:
    versions = ", ".join(f"{name} {ver}" for name, ver in env["versions"].items())
    load = " ".join(str(value) for value in env["load_average"])
    width = max(38, *(len(scenario.description) for scenario in results))
    lines = [
        title,
        f"{env['date']} | {env['python']} | {env['platform']} | {env['cpus']} CPUs | load {load}",
        versions,
        f"{settings['runs']} runs per scenario of ~{settings['seconds']} s, interleaved in "
        f"{settings['slices']} slices; median = median run, best = fastest run",
        "",
        f"{'scenario':<{width}} {'median':>8} {'best':>8} {'spread':>8} {'req/run':>9}",
    ]
    for scenario in results:
        lines.append(
            f"{scenario.description:<{width}} {scenario.us:>8.2f} {scenario.best_us:>8.2f} "
            f"{scenario.spread_us:>8.2f} {scenario.n:>9}"
        )
    lines += [
        "",
        f"{'derived (median of per-run values)':<{width}} {'median':>8} {'best':>8}  target",
    ]
    for figure in figures:
        spec = figure.spec
        target = "" if spec.target is None else f"<= {spec.target:g}  {_mark(figure.passed)}"
        lines.append(
            f"{spec.label:<{width}} {_format(figure.value, spec.unit):>8} "
            f"{_format(figure.best, spec.unit):>8}  {target}".rstrip()
        )
    failed = [figure.spec.label for figure in figures if figure.passed is False]
    lines.append("")
    lines.append("all targets met" if not failed else "targets missed: " + "; ".join(failed))
    return "\n".join(lines)


def main(
    title: str,
    cases: Sequence[Case],
    specs: Sequence[FigureSpec],
    *,
    packages: Sequence[str] = ("werkzeug", "falcon", "django"),
    argv: list[str] | None = None,
) -> int:
    """Parse the common options, time ``cases``, print the report; the exit status."""
    parser = argparse.ArgumentParser(description=title)
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

    env = environment(packages)  # before the run: the load average then is other processes'
    results = build_scenarios(cases)
    measure(
        results,
        runs=runs,
        target_seconds=seconds,
        warmup_seconds=min(0.2, seconds),
        slices=SLICES,
        progress=progress,
    )
    figures = derive(results, specs)
    if args.json:
        print(
            json.dumps(
                {
                    "environment": env,
                    "settings": settings,
                    "scenarios": {scenario.name: scenario.as_dict() for scenario in results},
                    "derived": {figure.spec.key: figure.as_dict() for figure in figures},
                    "all_targets_met": all(figure.passed is not False for figure in figures),
                },
                indent=2,
            )
        )
    else:
        print(report_text(title, results, figures, env, settings))
    if args.check and any(figure.passed is False for figure in figures):
        return 1
    return 0
