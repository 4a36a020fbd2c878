"""MetricsMiddleware's own recording of requests: what prometheus-client's Counter and
Histogram would expose, to the byte, and no count lost between threads."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from lback_mw import App
from lback_mw.middlewares._request_metrics import LabelKey, register_recorder
from lback_mw.testing import Client

METRICS = "lback_mw.middlewares.MetricsMiddleware"
LABELS = ("method", "route", "status")

#: (method, route, status, duration), in order; several label sets, each seen more
#: than once and not one after the other.
OBSERVATIONS: list[tuple[LabelKey, float]] = [
    (("GET", "/users/<int:id>", 200), 0.003),
    (("GET", "/users/<int:id>", 200), 0.005),  # a default bound exactly: "le" is inclusive
    (("POST", "/users", 201), 0.1),
    (("GET", "<unmatched>", 404), 0.0),
    (("GET", "/users/<int:id>", 200), 0.25),
    (("other", "<unmatched>", 405), 10.0),  # the last default bound
    (("POST", "/users", 201), 10.000001),  # above it: only +Inf
    (("GET", "/users/<int:id>", 500), 0.5),
    (("POST", "/users", 201), 2.0),  # the custom buckets' bounds exactly
    (("GET", "/users/<int:id>", 200), 3600.0),
    (("GET", "<unmatched>", 404), 0.0050000001),
    (("DELETE", "/users/<int:id>", 204), 1.0),
]


def reference(
    registry: CollectorRegistry, namespace: str, buckets: Sequence[float]
) -> tuple[Counter, Histogram]:
    """prometheus-client's own metrics, as MetricsMiddleware registered them before
    it recorded requests itself."""
    requests = Counter(
        "http_requests",
        "HTTP requests answered, by method, route template and status.",
        LABELS,
        namespace=namespace,
        registry=registry,
    )
    duration = Histogram(
        "http_request_duration_seconds",
        "Time from entering the middleware until the response was ready, in seconds.",
        LABELS,
        namespace=namespace,
        buckets=buckets,
        registry=registry,
    )
    return requests, duration


#: The two pages choose_encoder picks from: Prometheus's text format and OpenMetrics.
BOTH_ENCODERS = pytest.mark.parametrize(
    "accept", ["", "application/openmetrics-text"], ids=["text", "openmetrics"]
)


def without_created(page: str) -> str:
    """``page`` with every ``_created`` value (a creation time, different in two
    registries) replaced by ``<created>``."""
    return re.sub(r"^(\w+_created(?:\{[^}]*\})?) \S+$", r"\1 <created>", page, flags=re.MULTILINE)


def exposition(registry: CollectorRegistry, accept: str) -> str:
    """The page ``choose_encoder`` writes for ``accept``, without creation times."""
    encoder, _ = choose_encoder(accept)
    return without_created(encoder(registry).decode())


@pytest.fixture(params=[True, False], ids=["created", "no created"])
def created_series(request: pytest.FixtureRequest) -> Iterator[bool]:
    """prometheus-client's ``_created`` samples on, then off (what
    PROMETHEUS_DISABLE_CREATED_SERIES=true sets when it is imported)."""
    if not request.param:
        prometheus_client.disable_created_metrics()
    try:
        yield request.param
    finally:
        prometheus_client.enable_created_metrics()


@pytest.mark.parametrize(
    ("namespace", "buckets"),
    [
        pytest.param("", Histogram.DEFAULT_BUCKETS, id="default buckets"),
        pytest.param("shop", [0.5, 2], id="custom buckets, namespace"),
        pytest.param("", [0.0, 0.005, 1, float("inf")], id="zero bound, +Inf given"),
        # prometheus-client leaves _sum out, but not _count, when a bound is negative.
        pytest.param("", [-1.0, 0.1], id="negative bound"),
    ],
)
@BOTH_ENCODERS
def test_exposition_is_prometheus_clients_own(
    namespace: str, buckets: Sequence[float], accept: str, created_series: bool
) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    requests, duration = reference(theirs, namespace, buckets)
    record = register_recorder(ours, namespace=namespace, buckets=buckets, multiprocess=False)
    for key, seconds in OBSERVATIONS:
        labels = (key[0], key[1], str(key[2]))
        requests.labels(*labels).inc()
        duration.labels(*labels).observe(seconds)
        record(key, seconds)

    expected = exposition(theirs, accept)
    assert exposition(ours, accept) == expected
    assert ("_created" in expected) is created_series
    # What the comparison covered: six label sets, one of them seen four times.
    prefix = f"{namespace}_" if namespace else ""
    get_user = {"method": "GET", "route": "/users/<int:id>", "status": "200"}
    assert ours.get_sample_value(f"{prefix}http_requests_total", get_user) == 4
    assert expected.count(f"{prefix}http_request_duration_seconds_count{{") == 6


@BOTH_ENCODERS
def test_an_empty_recording_exposes_the_families_only(accept: str) -> None:
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference(theirs, "", Histogram.DEFAULT_BUCKETS)
    register_recorder(ours, namespace="", buckets=Histogram.DEFAULT_BUCKETS, multiprocess=False)
    assert exposition(ours, accept) == exposition(theirs, accept)


@BOTH_ENCODERS
def test_the_middlewares_scrape_is_prometheus_clients_page(
    app_factory: Callable[..., App], accept: str
) -> None:
    """The whole page the endpoint answers, in-flight gauge included, after a request
    through the app: the metrics in the order prometheus-client's were registered."""
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    requests, duration = reference(theirs, "", Histogram.DEFAULT_BUCKETS)
    Gauge("http_requests_in_progress", "HTTP requests being handled.", registry=theirs)
    app = app_factory(MIDDLEWARES=[{"class": METRICS, "params": {"registry": ours}}])
    client = Client(app)
    assert client.get("/nowhere").status_code == 404
    labels = {"method": "GET", "route": "<unmatched>", "status": "404"}
    requests.labels(**labels).inc()
    # The time it took, read back, is what prometheus-client's histogram observes.
    took = ours.get_sample_value("http_request_duration_seconds_sum", labels)
    assert took is not None
    duration.labels(**labels).observe(took)

    response = client.get("/metrics", headers={"Accept": accept})
    assert response.headers["Content-Type"] == choose_encoder(accept)[1]
    assert without_created(response.text) == exposition(theirs, accept)


class Seconds(float):
    """A duration whose additions and comparisons run Python code: the interpreter
    may then switch threads in the middle of ``total += duration``, as a free-threaded
    build may anywhere, instead of only between such statements."""

    def __radd__(self, other: float) -> float:
        return float(self) + other

    def __gt__(self, other: float) -> bool:
        return float(self) > other


def test_threads_lose_no_count() -> None:
    registry = CollectorRegistry()
    record = register_recorder(registry, namespace="", buckets=[0.1, 1], multiprocess=False)
    threads, calls = 8, 20_000
    keys: list[LabelKey] = [("GET", "/a", 200), ("GET", "/b", 200)]
    # 0.25 s: every partial sum is exact in binary, whatever the order of the additions.
    took = Seconds(0.25)
    start = threading.Barrier(threads)

    def hammer(index: int) -> None:
        start.wait(timeout=10)
        for call in range(calls):
            record(keys[(index + call) % 2], took)

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as possible
    try:
        workers = [threading.Thread(target=hammer, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(switch_interval)

    each = threads * calls // 2
    for route in ("/a", "/b"):
        labels = {"method": "GET", "route": route, "status": "200"}
        assert registry.get_sample_value("http_requests_total", labels) == each
        assert registry.get_sample_value("http_request_duration_seconds_count", labels) == each
        assert registry.get_sample_value("http_request_duration_seconds_sum", labels) == each / 4
        bucket = "http_request_duration_seconds_bucket"
        assert registry.get_sample_value(bucket, {**labels, "le": "0.1"}) == 0
        assert registry.get_sample_value(bucket, {**labels, "le": "1.0"}) == each
