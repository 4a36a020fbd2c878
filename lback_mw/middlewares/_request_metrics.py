"""How MetricsMiddleware records a request: its count and its duration, per label set.

In a single process the requests are counted here, into :class:`_Recorded`, and
exposed by two collectors exactly as prometheus-client's ``Counter`` and
``Histogram`` would expose them: the same names, HELP texts, label order, ``le``
strings, ``_count``, ``_sum`` and ``_created`` samples, so either encoder writes
the same page. In multiprocess mode the values must go to prometheus-client's
files, which every worker's scrape reads, so the requests go to its own
``Counter`` and ``Histogram``.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Generic, NamedTuple, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client import metrics as client_metrics
from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

#: A request's label set as the middleware decides it: (method, route template, status).
LabelKey = tuple[str, str, int]
#: Records one request: its label set and its duration in seconds.
Recorder = Callable[[LabelKey, float], None]

_LABELS = ("method", "route", "status")
_REQUESTS = "http_requests"
_REQUESTS_HELP = "HTTP requests answered, by method, route template and status."
_DURATION = "http_request_duration_seconds"
_DURATION_HELP = "Time from entering the middleware until the response was ready, in seconds."


def register_recorder(
    registry: CollectorRegistry, *, namespace: str, buckets: Sequence[float], multiprocess: bool
) -> Recorder:
    """Register the request count and duration metrics in ``registry`` and return
    what records a request into them.

    Raises ``ValueError``, as prometheus-client does, when a name is already in
    ``registry``; the count is registered first, then the duration, so a clash
    names the same series as it would with prometheus-client's own metrics.
    """
    bounds = [float(bound) for bound in buckets]
    if bounds[-1] != math.inf:
        bounds.append(math.inf)
    if multiprocess:
        requests = Counter(
            _REQUESTS, _REQUESTS_HELP, _LABELS, namespace=namespace, registry=registry
        )
        duration = Histogram(
            _DURATION,
            _DURATION_HELP,
            _LABELS,
            namespace=namespace,
            buckets=bounds,
            registry=registry,
        )
        return _ClientMetrics(requests, duration).record
    recorded = _Recorded(bounds)
    prefix = f"{namespace}_" if namespace else ""
    registry.register(_RequestsFamily(recorded, prefix + _REQUESTS, _REQUESTS_HELP))
    registry.register(_DurationFamily(recorded, prefix + _DURATION, _DURATION_HELP))
    return recorded.record


def _label_values(key: LabelKey) -> tuple[str, str, str]:
    return key[0], key[1], str(key[2])


class _ClientMetrics:
    """prometheus-client's ``Counter`` and ``Histogram``, whose values live in the
    multiprocess files."""

    def __init__(self, requests: Counter, duration: Histogram) -> None:
        self._requests = requests
        self._duration = duration
        # PERF: .labels() takes a lock and builds a key on every call; the label
        # combinations are bounded (see the middleware's docstring), so keep the children.
        self._children: dict[LabelKey, tuple[Counter, Histogram]] = {}

    def record(self, key: LabelKey, duration: float) -> None:
        children = self._children.get(key)
        if children is None:
            labels = _label_values(key)
            children = self._requests.labels(*labels), self._duration.labels(*labels)
            self._children[key] = children
        children[0].inc()
        children[1].observe(duration)


class _Series:
    """One label set's requests: how many fell in each bucket (not cumulative),
    and the sum of their durations."""

    __slots__ = ("buckets", "created", "labels", "sum")

    def __init__(self, key: LabelKey, size: int) -> None:
        self.labels = _label_values(key)
        #: What prometheus-client reports as ``_created``: when the label set was first seen.
        self.created = time.time()
        self.sum = 0.0
        self.buckets = [0] * size


class _Snapshot(NamedTuple):
    """One label set's values, copied under the lock for a scrape."""

    labels: tuple[str, str, str]
    created: float
    sum: float
    buckets: list[int]


class _Recorded:
    """The requests of this process, per label set, under one lock.

    gthread workers answer requests in threads: every update of a series holds
    the lock, so no increment is lost, and a scrape copies the series under it,
    so the count, the buckets and the sum of a label set always agree.
    """

    def __init__(self, bounds: Sequence[float]) -> None:
        #: The buckets' upper bounds, increasing, +Inf last.
        self.bounds = tuple(bounds)
        #: prometheus-client's ``le`` label of each bound ("0.005", "1.0", "+Inf"),
        #: by its own function (unannotated in prometheus-client).
        self.le = tuple(floatToGoString(bound) for bound in bounds)  # type: ignore[no-untyped-call]
        self._lock = threading.Lock()
        self._series: dict[LabelKey, _Series] = {}

    def record(self, key: LabelKey, duration: float) -> None:
        # PERF: prometheus-client's Counter.inc and Histogram.observe take three
        # locks, check twice that the metric has its labels and scan the buckets in
        # Python, ~0.85 us; one lock and a bisect in C, ~0.3 us. The metrics layer of
        # the full HTTP stack (bench/full_stack.py's, with and without it): ~4.9 ->
        # ~2.6 us a request; alone in an app, on /users/<int:id>: 2.07 -> 1.15 us.
        with self._lock:
            series = self._series.get(key)
            if series is None:
                series = self._series[key] = _Series(key, len(self.bounds))
            series.sum += duration
            # The first bound >= duration: "le" is inclusive, as in Histogram.observe.
            series.buckets[bisect_left(self.bounds, duration)] += 1

    def snapshot(self) -> list[_Snapshot]:
        with self._lock:
            return [
                _Snapshot(series.labels, series.created, series.sum, series.buckets.copy())
                for series in self._series.values()
            ]


def _created_series() -> bool:
    """Whether prometheus-client exposes ``_created`` samples now.

    ``PROMETHEUS_DISABLE_CREATED_SERIES`` is read once, when prometheus-client is
    imported, and ``disable_created_metrics()`` may change it later; its metrics
    read this flag on every scrape, so these do too.
    """
    return client_metrics._use_created


_Family = TypeVar("_Family", bound=Metric)


class _Exposed(ABC, Generic[_Family]):
    """A registry collector of one metric family over the :class:`_Recorded` requests.

    ``describe`` gives the registry the family's names, so a second middleware
    with the same names in one registry is refused as prometheus-client's own
    metrics would be.
    """

    def __init__(self, recorded: _Recorded, name: str, documentation: str) -> None:
        self._recorded = recorded
        self._name = name
        self._documentation = documentation

    def describe(self) -> list[Metric]:
        return [self._family()]

    def collect(self) -> list[Metric]:
        family = self._family()
        created = _created_series()
        for series in self._recorded.snapshot():
            self._add(family, series, created)
        return [family]

    @abstractmethod
    def _family(self) -> _Family:
        """The family, without samples."""

    @abstractmethod
    def _add(self, family: _Family, series: _Snapshot, created: bool) -> None:
        """Add one label set's samples to ``family``; ``created``: with ``_created``."""


class _RequestsFamily(_Exposed[CounterMetricFamily]):
    """``http_requests_total``, as prometheus-client's ``Counter`` exposes it."""

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(self._name, self._documentation, labels=_LABELS)

    def _add(self, family: CounterMetricFamily, series: _Snapshot, created: bool) -> None:
        count = float(sum(series.buckets))
        family.add_metric(series.labels, count, created=series.created if created else None)


class _DurationFamily(_Exposed[HistogramMetricFamily]):
    """``http_request_duration_seconds``, as prometheus-client's ``Histogram`` exposes it."""

    def _family(self) -> HistogramMetricFamily:
        return HistogramMetricFamily(self._name, self._documentation, labels=_LABELS)

    def _add(self, family: HistogramMetricFamily, series: _Snapshot, created: bool) -> None:
        # Histogram._child_samples's samples, in its order. Not add_metric, which
        # drops _count with _sum when a bound is negative, and knows no _created.
        labels = dict(zip(_LABELS, series.labels, strict=True))
        name, samples, accumulated = self._name, family.samples, 0.0
        for le, count in zip(self._recorded.le, series.buckets, strict=True):
            accumulated += count
            samples.append(Sample(f"{name}_bucket", {**labels, "le": le}, accumulated))
        samples.append(Sample(f"{name}_count", labels.copy(), accumulated))
        if self._recorded.bounds[0] >= 0:
            samples.append(Sample(f"{name}_sum", labels.copy(), series.sum))
        if created:
            samples.append(Sample(f"{name}_created", labels, series.created))
