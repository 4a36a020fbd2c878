"""A small in-process WSGI timing harness shared by the benchmarks in ``bench/``.

Every measurement calls ``app(environ, start_response)`` directly, with a fresh
shallow copy of a prebuilt environ per call, then consumes the returned iterable
and closes it, as a WSGI server would. No sockets, no server, no threads: what is
left is the cost of the framework itself (plus the loop below, which is the same
for every scenario; the ``null`` scenario measures it).

Scenarios are run *interleaved* (see :func:`measure`) so a slow phase of the
machine hits all of them alike, and each figure is the median of the runs.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.test import EnvironBuilder

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication, WSGIEnvironment

#: The body every scenario answers with.
BODY = "Hello, World!"


def build_environ(path: str = "/hello", method: str = "GET", **kwargs: Any) -> WSGIEnvironment:
    """A complete WSGI environ for ``method path``, built once and copied per call."""
    builder = EnvironBuilder(path=path, method=method, **kwargs)
    try:
        environ: WSGIEnvironment = builder.get_environ()
    finally:
        builder.close()
    return environ


def _write(data: bytes) -> None:
    """The ``write`` callable ``start_response`` must return; nothing uses it here."""


def start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Callable[[bytes], object]:
    return _write


def call_once(app: WSGIApplication, environ: WSGIEnvironment) -> tuple[str, bytes]:
    """One request, keeping the status and body: used to check a scenario before timing it."""
    seen: list[str] = []

    def recording_start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        seen.append(status)
        return _write

    iterable = app(environ.copy(), recording_start_response)
    try:
        body = b"".join(iterable)
    finally:
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return (seen[-1] if seen else "<no start_response>"), body


def run_batch(app: WSGIApplication, environ: WSGIEnvironment, n: int) -> int:
    """``n`` requests against ``app``; returns the elapsed time in nanoseconds."""
    copy = environ.copy
    respond = start_response
    perf = time.perf_counter_ns
    started = perf()
    for _ in range(n):
        iterable: Iterable[bytes] = app(copy(), respond)
        for _chunk in iterable:
            pass
        close = getattr(iterable, "close", None)
        if close is not None:
            close()
    return perf() - started


@dataclass
class Scenario:
    """Something to time: a name, a WSGI app and the environ it is called with."""

    name: str
    description: str
    app: WSGIApplication
    environ: WSGIEnvironment
    #: Requests per run, set by :func:`calibrate`.
    n: int = 0
    #: Microseconds per request of each run.
    runs_us: list[float] = field(default_factory=list)

    @property
    def us(self) -> float:
        """Median microseconds per request over the runs."""
        return statistics.median(self.runs_us)

    @property
    def best_us(self) -> float:
        """The fastest run: the least disturbed by the rest of the machine."""
        return min(self.runs_us)

    @property
    def spread_us(self) -> float:
        """Max minus min over the runs, in microseconds per request."""
        return max(self.runs_us) - min(self.runs_us)

    def as_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "us_per_request": round(self.us, 4),
            "best_us": round(self.best_us, 4),
            "spread_us": round(self.spread_us, 4),
            "requests_per_run": self.n,
            "runs_us": [round(value, 4) for value in self.runs_us],
        }


def calibrate(scenario: Scenario, target_seconds: float, warmup_seconds: float) -> None:
    """Warm the scenario up, then pick ``n`` so that one run takes ~``target_seconds``."""
    n = 64
    warm_ns = int(warmup_seconds * 1e9)
    spent = 0
    while True:
        elapsed = run_batch(scenario.app, scenario.environ, n)
        spent += elapsed
        if spent >= warm_ns and elapsed >= 20_000_000:  # >= 20 ms: a usable estimate
            break
        if elapsed < 20_000_000:
            n *= 2
    per_request_ns = elapsed / n
    scenario.n = max(1000, int(target_seconds * 1e9 / per_request_ns))


def measure(
    scenarios: Sequence[Scenario],
    *,
    runs: int = 7,
    target_seconds: float = 0.3,
    warmup_seconds: float = 0.2,
    slices: int = 10,
    progress: Callable[[str], None] | None = None,
) -> None:
    """Calibrate every scenario, then time ``runs`` interleaved rounds of all of them.

    One run of a scenario is ``scenario.n`` requests (~``target_seconds``), cut into
    ``slices`` batches; a round plays slice 1 of every scenario, then slice 2 of
    every scenario, and so on. Every scenario's run is thus spread evenly over the
    same few seconds, so a slow phase of a shared machine (CPU steal on a VM) hits
    all the runs of a round alike and the ratios between them stay meaningful.

    Fills ``scenario.n`` and ``scenario.runs_us``. The garbage collector stays
    enabled, as in production; a collection is forced between rounds (outside the
    timed region) so one round does not pay for the garbage of another.
    """
    for scenario in scenarios:
        calibrate(scenario, target_seconds, warmup_seconds)
        scenario.n = max(slices, scenario.n - scenario.n % slices)
        scenario.runs_us = []
        if progress is not None:
            progress(f"calibrated {scenario.name}: {scenario.n} requests per run")
    for round_number in range(runs):
        gc.collect()
        elapsed = dict.fromkeys(range(len(scenarios)), 0)
        for _slice in range(slices):
            for index, scenario in enumerate(scenarios):
                elapsed[index] += run_batch(scenario.app, scenario.environ, scenario.n // slices)
        for index, scenario in enumerate(scenarios):
            scenario.runs_us.append(elapsed[index] / scenario.n / 1000)
        if progress is not None:
            progress(f"round {round_number + 1}/{runs} done")
