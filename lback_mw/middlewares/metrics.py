"""Prometheus metrics: request count, latency and in-flight requests, and a scrape endpoint.

Labels are bounded on purpose: the route is the rule template (``/users/<int:id>``),
never the raw path, and an unknown HTTP method becomes ``other``. Every distinct
label value is a time series kept forever by Prometheus, so a label a client
can choose freely (a path, a method) would let anyone exhaust its memory.

In a single process the requests are counted by ``_request_metrics``, exposed
exactly as prometheus-client's ``Counter`` and ``Histogram`` would expose them but
without their per-call locks and checks; in multiprocess mode the values must be
in prometheus-client's files, so its own metrics record them.
"""

from __future__ import annotations

import hmac
import itertools
import math
import os
import re
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import ClassVar

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    values,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import MethodNotAllowed, Unauthorized
from werkzeug.wrappers import Response as WerkzeugResponse

from .._multiprocess import MULTIPROC_ENV_VAR as MULTIPROC_ENV_VAR
from .._multiprocess import SPACE_PER_PROCESS as SPACE_PER_PROCESS
from .._multiprocess import check_multiprocess_dir as check_multiprocess_dir
from ..exceptions import ImproperlyConfigured
from ..settings import Settings
from ..wrappers import Request, Response
from ._http import BEARER_TOKEN
from ._request_metrics import Recorder, register_recorder
from .base import BaseMiddleware

#: The route label of requests no rule matched: 404s, 405s, and requests an inner
#: middleware answered before routing.
UNMATCHED = "<unmatched>"
#: The method label of any method not in :data:`KNOWN_METHODS`.
OTHER_METHOD = "other"
#: Methods labelled as themselves (RFC 9110 and PATCH).
KNOWN_METHODS = frozenset(
    ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT")
)
_NAMESPACE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
#: A ``version=`` parameter in ``Accept`` that is not dotted numbers ("abc", "1.x.0").
_BAD_VERSION = re.compile(r"version\s*=\s*(?!\d+(?:\.\d+)*\s*(?:[;,]|$))", re.IGNORECASE)
_SCRAPE_METHODS = ("GET", "HEAD")


class MetricsMiddleware(BaseMiddleware):
    """Count requests and time them for Prometheus, and answer its scrapes on ``path``.

    Metrics (with ``namespace`` as prefix): ``http_requests_total`` and
    ``http_request_duration_seconds`` labelled by method, route template and
    status; ``http_requests_in_progress``, unlabelled. Scrapes of ``path`` are
    answered here and not counted themselves.

    :param path: where Prometheus scrapes (GET or HEAD).
    :param token: require ``Authorization: Bearer <token>`` on scrapes; defaults
        to the ``METRICS_TOKEN`` setting; ``None`` leaves the endpoint open.
    :param namespace: prefix of the metric names (``myapp`` -> ``myapp_http_requests_total``).
    :param buckets: upper bounds, in seconds, of the latency histogram buckets.
    :param registry: where the metrics are registered and what a single-process
        scrape exposes; default a new registry of this instance's own (plus the
        process, platform and GC collectors), so several apps can live in one process.
    """

    ordering_role: ClassVar[str] = "metrics"

    def __init__(
        self,
        *,
        path: str = "/metrics",
        token: str | None = None,
        namespace: str = "",
        buckets: Sequence[float] | None = None,
        registry: CollectorRegistry | None = None,
        config: Settings | None = None,
    ) -> None:
        owner = type(self).__name__
        if not path.startswith("/"):
            raise ImproperlyConfigured(
                f"{owner}: parameter 'path' is {path!r}; it must be a URL path "
                "starting with '/', such as '/metrics'."
            )
        if namespace and not _NAMESPACE.fullmatch(namespace):
            raise ImproperlyConfigured(
                f"{owner}: parameter 'namespace' is {namespace!r}; a Prometheus "
                "name prefix has only letters, digits and underscores and does not start "
                "with a digit, such as 'myapp'."
            )
        if buckets is None:
            buckets = Histogram.DEFAULT_BUCKETS
        elif (
            not buckets
            or buckets[0] == math.inf  # increasing: +Inf alone
            or any(math.isnan(bound) for bound in buckets)
            or any(low >= high for low, high in itertools.pairwise(buckets))
        ):
            raise ImproperlyConfigured(
                f"{owner}: parameter 'buckets' is {list(buckets)!r}; give at least "
                "one bucket upper bound, in seconds, below +Inf (which is always added), "
                "in increasing order, such as [0.01, 0.05, 0.1, 0.5, 1, 5]."
            )
        if token is None and config is not None:
            token = config.METRICS_TOKEN
        self._token = None if token is None else _check_token(owner, token).encode()
        self._multiproc_dir = _multiprocess_dir(owner, active=values.ValueClass._multiprocess)
        if registry is None:
            registry = CollectorRegistry()
            if self._multiproc_dir is None:
                # What prometheus-client's global registry exposes by default; they
                # describe this process only, so multiprocess mode leaves them out.
                ProcessCollector(registry=registry)
                PlatformCollector(registry=registry)
                GCCollector(registry=registry)
        elif not isinstance(registry, CollectorRegistry):
            raise ImproperlyConfigured(
                f"{owner}: parameter 'registry' is {registry!r}; give a "
                "prometheus_client.CollectorRegistry, or leave it out for a registry of "
                "this middleware's own."
            )

        #: Where this middleware's metrics are registered.
        self.registry = registry
        #: The scrape path.
        self.path = path
        try:
            self._record: Recorder = register_recorder(
                registry,
                namespace=namespace,
                buckets=buckets,
                multiprocess=self._multiproc_dir is not None,
            )
            in_progress = Gauge(
                "http_requests_in_progress",
                "HTTP requests being handled.",
                namespace=namespace,
                registry=registry,
                multiprocess_mode="livesum",
            )
        except ValueError as exc:  # a name already in an injected registry
            raise ImproperlyConfigured(
                f"{owner}: cannot register its metrics in {registry!r}: {exc}. "
                f"Give each {owner} sharing a registry its own 'namespace'."
            ) from exc
        # The in-flight requests, entered and left with the request's id.
        self._enter: Callable[[int], object]
        self._leave: Callable[[int], object]
        if self._multiproc_dir is None:
            # PERF: Gauge.inc and .dec take a lock each, ~1.2 us a request; a set
            # of running requests' ids is read only when scraped. set.add and
            # set.discard are atomic, so threads need no lock of ours.
            running: set[int] = set()
            in_progress.set_function(lambda: len(running))
            self._enter, self._leave = running.add, running.discard
        else:
            # Each worker's own value, in the files every worker's scrape reads.
            self._enter = lambda _: in_progress.inc()
            self._leave = lambda _: in_progress.dec()
        # Per instance, so two of these in one chain do not read each other's clock.
        self._start_key = f"lback_mw.metrics.start.{id(self)}"

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        if request.path == self.path:
            return self._scrape(request)
        request.environ[self._start_key] = perf_counter()
        self._enter(id(request))
        return None

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        start = request.environ.get(self._start_key)
        if start is None:  # a scrape
            return response
        duration = perf_counter() - start
        self._leave(id(request))
        method = request.method
        if method not in KNOWN_METHODS:
            method = OTHER_METHOD
        rule = request.url_rule
        self._record(
            (method, UNMATCHED if rule is None else rule.rule, response.status_code), duration
        )
        return response

    def _scrape(self, request: Request) -> WerkzeugResponse:
        if request.method not in _SCRAPE_METHODS:
            raise MethodNotAllowed(valid_methods=_SCRAPE_METHODS)
        if self._token is not None:
            auth = request.authorization
            # compare_digest: the time taken must not tell how much of a guess was right.
            if (
                auth is None
                or auth.type != "bearer"
                or auth.token is None
                or not hmac.compare_digest(auth.token.encode(), self._token)
            ):
                raise Unauthorized(
                    "Scraping the metrics needs 'Authorization: Bearer <token>'.",
                    www_authenticate=WWWAuthenticate("bearer", {"realm": "metrics"}),
                )
        accept = request.headers.get("Accept", "")
        # A "version=" that is not dotted numbers is a client's garbage, answered in
        # the classic text format every scraper reads: prometheus-client >= 0.23
        # raises TypeError on it, older releases pick OpenMetrics; the same answer
        # on every supported release.
        encoder, content_type = choose_encoder("" if _BAD_VERSION.search(accept) else accept)
        if self._multiproc_dir is None:
            registry = self.registry
        else:
            # prometheus-client's recipe: a fresh registry per scrape, reading every
            # worker's files, so nothing is exported twice.
            registry = CollectorRegistry()
            # Unannotated in prometheus-client.
            MultiProcessCollector(registry, self._multiproc_dir)  # type: ignore[no-untyped-call]
        return Response(encoder(registry), content_type=content_type)


def _check_token(owner: str, token: object) -> str:
    if not isinstance(token, str):
        problem = f"of type {type(token).__name__}, not a string"
    elif not token:
        problem = "empty"
    elif not BEARER_TOKEN.fullmatch(token):
        # The token itself stays out of the message: it ends up in logs.
        problem = "not a usable bearer token: use letters, digits and -._~+/ (and '=' at the end)"
    else:
        return token
    raise ImproperlyConfigured(
        f"{owner}: the scrape token (parameter 'token', or the METRICS_TOKEN "
        f"setting) is {problem}. Generate one with: python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))'. Leave both unset for an unprotected endpoint."
    )


def _multiprocess_dir(owner: str, *, active: bool) -> str | None:
    """``PROMETHEUS_MULTIPROC_DIR`` when multiprocess mode is ``active``, checked.

    prometheus-client decides where values live once, when it is imported; a
    variable set or removed later would make the scrape read files nobody writes.
    """
    path = os.environ.get(MULTIPROC_ENV_VAR) or None
    if path is not None and not active:
        raise ImproperlyConfigured(
            f"{owner}: {MULTIPROC_ENV_VAR} is set ({path!r}) but prometheus_client "
            "was imported before it was, so its metrics stay in this process. Set it in the "
            "environment before the server starts (export it in the shell or the service "
            "file), not from Python code."
        )
    if path is None and active:
        raise ImproperlyConfigured(
            f"{owner}: prometheus_client runs in multiprocess mode but "
            f"{MULTIPROC_ENV_VAR} is not set (the lower-case name is deprecated and not "
            "read here). Set it in the environment before the server starts."
        )
    if path is not None:
        check_multiprocess_dir(path, owner=owner)
    return path
