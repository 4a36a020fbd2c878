"""MetricsMiddleware: what the scrape endpoint reports, who may read it, and bounded labels."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request, Response
from lback_mw.checks import RECOMMENDED_ORDER
from lback_mw.middlewares import MetricsMiddleware
from lback_mw.middlewares.metrics import check_multiprocess_dir
from lback_mw.testing import Client, TestResponse

from ..serving import free_port, serve

AppFactory = Callable[..., App]
ClientFor = Callable[[App], Client]

METRICS = "lback_mw.middlewares.MetricsMiddleware"


def metrics_app(app_factory: AppFactory, *extra: Any, **params: Any) -> App:
    """An app with MetricsMiddleware outermost (then ``extra``) and a few views."""
    app = app_factory(MIDDLEWARES=[{"class": METRICS, "params": params}, *extra])

    @app.route("/users/<int:id>")
    def user(request: Request, id: int) -> dict[str, int]:
        return {"id": id}

    @app.route("/boom")
    def boom(request: Request) -> str:
        raise RuntimeError("view failed")

    return app


def unlinted_head(app: App, path: str) -> TestResponse:
    """HEAD without werkzeug's linter, which takes the empty body for a wrong Content-Length."""
    return Client(app).open(path, method="HEAD")


def samples(text: str) -> list[Sample]:
    return [sample for family in text_string_to_metric_families(text) for sample in family.samples]


def scrape(client: Client, path: str = "/metrics", **headers: str) -> list[Sample]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return samples(response.text)


def value(found: list[Sample], name: str, **labels: str) -> float:
    """The value of the one sample called ``name`` with exactly ``labels``; 0 if none."""
    matching = [s.value for s in found if s.name == name and s.labels == labels]
    assert len(matching) <= 1, matching
    return matching[0] if matching else 0.0


def requests(found: list[Sample], method: str, route: str, status: str, prefix: str = "") -> float:
    """The ``http_requests_total`` sample for one label set."""
    return value(found, f"{prefix}http_requests_total", method=method, route=route, status=status)


def series(found: list[Sample], name: str) -> list[dict[str, str]]:
    return [s.labels for s in found if s.name == name]


def test_counts_and_times_requests_by_route_template(
    app_factory: AppFactory, client_for: ClientFor
) -> None:
    app = metrics_app(app_factory)
    client = client_for(app)
    for id in (1, 2, 3):
        assert client.get(f"/users/{id}").status_code == 200
    assert unlinted_head(app, "/users/4").status_code == 200

    found = scrape(client)
    get_user = {"method": "GET", "route": "/users/<int:id>", "status": "200"}
    assert value(found, "http_requests_total", **get_user) == 3
    assert value(found, "http_requests_total", **{**get_user, "method": "HEAD"}) == 1
    assert value(found, "http_request_duration_seconds_count", **get_user) == 3
    assert value(found, "http_request_duration_seconds_sum", **get_user) > 0
    assert value(found, "http_request_duration_seconds_bucket", **get_user, le="+Inf") == 3
    # The scrape itself is not counted, this one nor the one before.
    assert requests(found, "GET", "<unmatched>", "200") == 0
    found = scrape(client)
    assert all(labels["route"] != "/metrics" for labels in series(found, "http_requests_total"))
    assert sum(s.value for s in found if s.name == "http_requests_total") == 4
    # The default registry also carries the process collectors, like prometheus-client's own.
    assert any(s.name == "python_info" for s in found)


class Forbid(BaseMiddleware):
    """Answers 403 before routing for paths under /private."""

    def process_request(self, request: Request) -> Response | None:
        return Response("no", status=403) if request.path.startswith("/private") else None


def test_unmatched_errors_and_short_circuits_keep_their_status(
    app_factory: AppFactory, client_for: ClientFor
) -> None:
    client = client_for(metrics_app(app_factory, Forbid))
    assert client.get("/nowhere").status_code == 404
    assert client.post("/users/1").status_code == 405
    assert client.get("/private/x").status_code == 403
    assert client.get("/boom").status_code == 500

    found = scrape(client)
    assert requests(found, "GET", "<unmatched>", "404") == 1
    assert requests(found, "POST", "<unmatched>", "405") == 1
    assert requests(found, "GET", "<unmatched>", "403") == 1
    # The router matched /boom before the view raised: its template, status 500.
    assert requests(found, "GET", "/boom", "500") == 1
    boom = {"method": "GET", "route": "/boom", "status": "500"}
    assert value(found, "http_request_duration_seconds_count", **boom) == 1


def test_label_cardinality_is_bounded(app_factory: AppFactory, client_for: ClientFor) -> None:
    client = client_for(metrics_app(app_factory))
    for n in range(50):
        assert client.get(f"/not-a-page-{n}").status_code == 404
        assert client.get(f"/users/{n}").status_code == 200
        assert client.open(f"/users/{n}", method=f"X-RANDOM-{n}").status_code == 405

    found = scrape(client)
    assert sorted(map(sorted_items, series(found, "http_requests_total"))) == [
        (("method", "GET"), ("route", "/users/<int:id>"), ("status", "200")),
        (("method", "GET"), ("route", "<unmatched>"), ("status", "404")),
        (("method", "other"), ("route", "<unmatched>"), ("status", "405")),
    ]
    assert requests(found, "other", "<unmatched>", "405") == 50
    # Each histogram series is its buckets plus count, sum and created: still 3 label sets.
    histogram = series(found, "http_request_duration_seconds_count")
    assert len(histogram) == 3


def sorted_items(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def test_in_progress_gauge_counts_the_running_request(
    app_factory: AppFactory, client_for: ClientFor
) -> None:
    app = metrics_app(app_factory)
    registry = app.configured_middleware[0].instance.registry

    @app.route("/gauge")
    def gauge(request: Request) -> str:
        return str(registry.get_sample_value("http_requests_in_progress"))

    client = client_for(app)
    assert client.get("/gauge").text == "1.0"
    assert client.get("/boom").status_code == 500  # an error response also counts down
    assert value(scrape(client), "http_requests_in_progress") == 0


def test_in_progress_gauge_counts_concurrent_requests(app_factory: AppFactory) -> None:
    app = metrics_app(app_factory)
    registry = app.configured_middleware[0].instance.registry
    all_inside, seen = threading.Barrier(4), []

    @app.route("/wait")
    def wait(request: Request) -> str:
        all_inside.wait(timeout=10)
        seen.append(registry.get_sample_value("http_requests_in_progress"))
        all_inside.wait(timeout=10)  # nobody leaves before every thread looked
        return "ok"

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: Client(app).get("/wait").status_code, range(4)))
    assert statuses == [200] * 4
    assert seen == [4.0] * 4
    assert registry.get_sample_value("http_requests_in_progress") == 0


def test_token_protects_the_endpoint(app_factory: AppFactory, client_for: ClientFor) -> None:
    client = client_for(metrics_app(app_factory, token="s3cret-token"))
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer s3cret-tokenX"},
        {"Authorization": "Basic czNjcmV0LXRva2Vu"},
        {"Authorization": "s3cret-token"},
    ):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "http_requests" not in response.text
    found = scrape(client, Authorization="Bearer s3cret-token")
    assert series(found, "http_requests_in_progress") == [{}]
    # Other paths need no token.
    assert client.get("/users/1").status_code == 200


def test_token_from_setting_and_param_wins(app_factory: AppFactory, client_for: ClientFor) -> None:
    from_setting = app_factory(METRICS_TOKEN="from-setting", MIDDLEWARES=[METRICS])
    client = client_for(from_setting)
    assert client.get("/metrics").status_code == 401
    assert scrape(client, Authorization="Bearer from-setting")

    both = app_factory(
        METRICS_TOKEN="from-setting",
        MIDDLEWARES=[{"class": METRICS, "params": {"token": "from-param"}}],
    )
    client = client_for(both)
    response = client.get("/metrics", headers={"Authorization": "Bearer from-setting"})
    assert response.status_code == 401
    assert scrape(client, Authorization="Bearer from-param")


def test_scrape_methods_and_openmetrics(app_factory: AppFactory, client_for: ClientFor) -> None:
    app = metrics_app(app_factory)
    client = client_for(app)
    response = client.post("/metrics")
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, HEAD"

    head = unlinted_head(app, "/metrics")
    assert head.status_code == 200
    assert head.data == b""
    # Without an Accept header, the classic text format (what prometheus-client serves).
    assert head.headers["Content-Type"].startswith("text/plain; version=0.0.4")

    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.text.endswith("# EOF\n")
    # A POST, a HEAD and a GET of the scrape path: none of them counted.
    assert "http_requests_total{" not in response.text


@pytest.mark.parametrize(
    "accept",
    [
        "application/openmetrics-text; version=abc",
        "application/openmetrics-text; version=1.x.0",
        "text/plain; version=x.y",
        "text/plain;version=1.a, application/openmetrics-text",
    ],
)
def test_a_garbage_version_in_accept_gets_the_text_format(
    app_factory: AppFactory, client_for: ClientFor, accept: str
) -> None:
    client = client_for(metrics_app(app_factory))
    client.get("/users/1")
    response = client.get("/metrics", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert requests(samples(response.text), "GET", "/users/<int:id>", "200") == 1


def test_custom_path_namespace_and_buckets(app_factory: AppFactory, client_for: ClientFor) -> None:
    app = metrics_app(app_factory, path="/internal/metrics", namespace="shop", buckets=[0.5, 2])
    client = client_for(app)
    assert client.get("/metrics").status_code == 404  # an ordinary, counted, path now
    found = scrape(client, "/internal/metrics")
    assert requests(found, "GET", "<unmatched>", "404", prefix="shop_") == 1
    assert not series(found, "http_requests_total")
    name = "shop_http_request_duration_seconds_bucket"
    buckets = [sample.labels["le"] for sample in found if sample.name == name]
    assert buckets == ["0.5", "2.0", "+Inf"]


def test_each_app_has_its_own_registry_unless_one_is_given(
    app_factory: AppFactory, client_for: ClientFor
) -> None:
    first, second = metrics_app(app_factory), metrics_app(app_factory)
    client_for(first).get("/users/1")
    user = {"method": "GET", "route": "/users/<int:id>", "status": "200"}
    assert value(scrape(client_for(first)), "http_requests_total", **user) == 1
    assert value(scrape(client_for(second)), "http_requests_total", **user) == 0

    registry = CollectorRegistry()
    orders = Counter("orders", "Orders placed.", registry=registry)
    orders.inc(7)
    shared = metrics_app(app_factory, registry=registry)
    found = scrape(client_for(shared))
    assert value(found, "orders_total") == 7
    assert series(found, "http_requests_in_progress") == [{}]
    assert not any(s.name.startswith("process_") for s in found)  # not added to a given one
    with pytest.raises(ImproperlyConfigured, match="its own 'namespace'"):
        metrics_app(app_factory, registry=registry)
    metrics_app(app_factory, registry=registry, namespace="admin")  # a namespace fixes it


@pytest.mark.parametrize(
    ("first", "clashing"),
    [
        pytest.param(
            lambda registry: MetricsMiddleware(registry=registry),
            {"http_requests", "http_requests_total", "http_requests_created"},
            id="a second MetricsMiddleware",
        ),
        pytest.param(
            lambda registry: Histogram("http_request_duration_seconds", "Mine.", registry=registry),
            {
                f"http_request_duration_seconds{suffix}"
                for suffix in ("", "_bucket", "_count", "_sum", "_created")
            },
            id="the histogram's name taken",
        ),
    ],
)
def test_a_name_clash_in_a_shared_registry_names_the_series(
    app_factory: AppFactory, first: Callable[[CollectorRegistry], object], clashing: set[str]
) -> None:
    registry = CollectorRegistry()
    first(registry)
    with pytest.raises(ImproperlyConfigured) as caught:
        metrics_app(app_factory, registry=registry)
    found = re.search(
        rf"MetricsMiddleware: cannot register its metrics in {re.escape(repr(registry))}: "
        r"Duplicated timeseries in CollectorRegistry: \{(.*)\}\. Give each MetricsMiddleware "
        r"sharing a registry its own 'namespace'\.$",
        str(caught.value),
    )
    assert found is not None, str(caught.value)
    assert {name.strip("'") for name in found[1].split(", ")} == clashing


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"path": "metrics"}, "parameter 'path' is 'metrics'; it must be a URL path"),
        ({"namespace": "my-app"}, "parameter 'namespace' is 'my-app'"),
        ({"namespace": "1app"}, "does not start with a digit"),
        ({"buckets": []}, "parameter 'buckets' is []; give at least one"),
        ({"buckets": [1, 0.5]}, "in increasing order"),
        ({"buckets": [0.1, 0.1]}, "in increasing order"),
        ({"buckets": [float("nan")]}, "parameter 'buckets' is [nan]"),
        # Not "its own 'namespace'", which prometheus-client's refusal used to become.
        ({"buckets": [float("inf")]}, "parameter 'buckets' is [inf]; give at least one"),
        ({"buckets": ["soon"]}, "parameter 'buckets' expects"),
        (
            {"token": ""},
            "the scrape token (parameter 'token', or the METRICS_TOKEN setting) is empty",
        ),
        ({"token": "two words"}, "not a usable bearer token"),
        ({"token": "a=b"}, "not a usable bearer token"),
        (
            {"registry": "global"},
            "parameter 'registry' expects prometheus_client.registry.CollectorRegistry",
        ),
        ({"interval": 5}, "unknown parameter 'interval'"),
    ],
)
def test_configuration_errors(
    app_factory: AppFactory, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        app_factory(MIDDLEWARES=[{"class": METRICS, "params": params}])
    assert f"MIDDLEWARES[0] ('{METRICS}')" in str(caught.value)
    assert message in str(caught.value)
    assert "two words" not in str(caught.value)  # a token never ends up in the logs


def test_bad_token_setting(app_factory: AppFactory) -> None:
    # A declared setting: its type is checked with the others, before any middleware.
    with pytest.raises(ImproperlyConfigured, match="METRICS_TOKEN: Input should be a valid str"):
        app_factory(METRICS_TOKEN=12345, MIDDLEWARES=[METRICS])
    with pytest.raises(ImproperlyConfigured, match="Generate one with"):
        app_factory(METRICS_TOKEN="has space", MIDDLEWARES=[METRICS])


def test_multiprocess_variable_set_too_late_or_wrong(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # prometheus_client was imported without the variable: its values live in memory.
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    with pytest.raises(ImproperlyConfigured, match="imported before it was"):
        app_factory(MIDDLEWARES=[METRICS])

    values = prometheus_client.values
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match=r"which is not a directory\. Create it, empty"):
        app_factory(MIDDLEWARES=[METRICS])
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    with pytest.raises(ImproperlyConfigured, match="multiprocess mode but PROMETHEUS_MULTIPROC"):
        app_factory(MIDDLEWARES=[METRICS])


@contextmanager
def tmpfs(tmp_path: Path, size: str, *options: str) -> Iterator[Path]:
    """A real, small file system (tmpfs) mounted for the test; skips where mounting
    is not allowed (not root, or a container without CAP_SYS_ADMIN)."""
    mount_point = tmp_path / f"tmpfs-{size}-{'-'.join(options)}"
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", ",".join((f"size={size}", *options))]
    mounted = subprocess.run([*command, "tmpfs", str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_multiprocess_dir_without_room_or_write_access_is_refused(tmp_path: Path) -> None:
    with tmpfs(tmp_path, "2m") as small:
        with pytest.raises(ImproperlyConfigured) as caught:
            check_multiprocess_dir(str(small), owner="MetricsMiddleware")
        message = str(caught.value)
        assert f"PROMETHEUS_MULTIPROC_DIR is {str(small)!r}, which has 2.0 MiB free" in message
        assert "need at least 4 MiB" in message
        assert "SIGBUS" in message
    with tmpfs(tmp_path, "8m") as roomy:
        check_multiprocess_dir(str(roomy), owner="MetricsMiddleware")  # 4 MiB for one process: fine
        with pytest.raises(ImproperlyConfigured, match=r"3 process\(es\) need at least 12 MiB"):
            check_multiprocess_dir(str(roomy), processes=3, owner="MetricsMiddleware")
        (roomy / "earlier-run.db").write_bytes(b"x" * (6 << 20))  # files left behind
        with pytest.raises(ImproperlyConfigured, match="empty the directory"):
            check_multiprocess_dir(str(roomy), owner="MetricsMiddleware")
    with (
        tmpfs(tmp_path, "8m", "ro") as read_only,
        pytest.raises(ImproperlyConfigured, match=r"cannot create files \(Read-only file system"),
    ):
        check_multiprocess_dir(str(read_only), owner="MetricsMiddleware")


def test_serve_refuses_a_full_multiprocess_dir(metrics_project: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path, "1m") as full:
        # Full but for a few pages: before the check, every worker died of SIGBUS at
        # its first metric and gunicorn booted the next one, in a loop (60 in 15 s).
        (full / "filler").write_bytes(b"x" * ((1 << 20) - (8 << 10)))
        env = {name: value for name, value in os.environ.items() if not name.startswith("LBACK_")}
        env["PROMETHEUS_MULTIPROC_DIR"] = str(full)
        command = [sys.executable, "-m", "lback_mw", "serve", "--settings", "settings.yaml"]
        command += ["--workers", "2", "--bind", f"127.0.0.1:{free_port()}"]
        result = subprocess.run(
            command, cwd=metrics_project, env=env, capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 1, result.stderr
    assert "Error: lback-mw serve: PROMETHEUS_MULTIPROC_DIR is" in result.stderr
    assert "3 process(es) need at least 12 MiB" in result.stderr
    assert "Traceback" not in result.stderr


def test_recommended_outermost() -> None:
    assert MetricsMiddleware.ordering_role == RECOMMENDED_ORDER[0] == "metrics"


# -- several gunicorn workers -------------------------------------------------------

PROJECT_ROUTES = """
import os
import time

from lback_mw import Route


def pid(request):
    time.sleep(0.05)  # keep a worker busy, so that concurrent requests reach both
    return str(os.getpid())


routes = [Route("/pid", pid)]
"""

PROJECT_SETTINGS = """
SECRET_KEY: metrics-test-secret-key-not-for-production
ROUTES: metricsproj.routes
MIDDLEWARES:
  - lback_mw.middlewares.MetricsMiddleware
"""


@pytest.fixture
def metrics_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    package = project / "metricsproj"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "routes.py").write_text(PROJECT_ROUTES)
    (project / "settings.yaml").write_text(PROJECT_SETTINGS)
    return project


def total_requests(found: list[Sample]) -> float:
    return sum(s.value for s in found if s.name == "http_requests_total")


def test_multiprocess_counts_add_up_across_gunicorn_workers(
    metrics_project: Path, tmp_path: Path
) -> None:
    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    # Readiness is polled on the scrape path: uncounted, so the total stays exact.
    with serve(
        metrics_project, "settings.yaml", workers=2, env=env, ready_path="/metrics"
    ) as server:
        workers = server.worker_pids(expected=2)
        assert len(workers) == 2
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: server.get("/pid"), range(40)))
        assert {answer.status for answer in answers} == {200}
        assert {answer.body.decode() for answer in answers} == workers  # both answered

        for _ in range(6):  # whichever worker answers the scrape sees every worker's counts
            response = server.get("/metrics")
            assert response.status == 200
            found = samples(response.body.decode())
            assert total_requests(found) == 40
            assert requests(found, "GET", "/pid", "200") == 40
            assert value(found, "http_requests_in_progress") == 0
            assert not any(s.name.startswith("process_") for s in found)

        # A worker dies: lback-mw serve's child_exit hook drops its live gauge,
        # while its counts stay in the total.
        victim = sorted(workers)[0]
        gauge_file = multiproc_dir / f"gauge_livesum_{victim}.db"
        assert gauge_file.exists()
        os.kill(int(victim), signal.SIGKILL)
        deadline = time.monotonic() + 10
        while gauge_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not gauge_file.exists(), server.log()
        assert (multiproc_dir / f"counter_{victim}.db").exists()
        assert total_requests(samples(server.get("/metrics").body.decode())) == 40
