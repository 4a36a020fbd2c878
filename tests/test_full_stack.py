"""Every HTTP built-in in one MIDDLEWARES list, in the recommended order, served by a
real gunicorn on 127.0.0.1 behind a (simulated) TLS-terminating proxy."""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lback_mw import create_app
from lback_mw.checks import RECOMMENDED_ORDER, check_app

from .serving import HTTPResult, Server, serve

ORIGIN = "https://app.example.com"

SETTINGS_PY = f"""
SECRET_KEY = "full-stack-test-key-{"x" * 40}"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROUTES = "stackproj.routes"
# nginx in front terminates TLS and sets X-Forwarded-For / X-Forwarded-Proto.
WSGI_MIDDLEWARES = [
    {{"class": "werkzeug.middleware.proxy_fix.ProxyFix", "params": {{"x_for": 1, "x_proto": 1}}}},
]
MIDDLEWARES = [
    "lback_mw.middlewares.MetricsMiddleware",
    "lback_mw.middlewares.RequestIDMiddleware",
    "lback_mw.middlewares.AccessLogMiddleware",
    "lback_mw.middlewares.TimingMiddleware",
    {{"class": "lback_mw.middlewares.SecurityHeadersMiddleware", "params": {{"hsts": 3600}}}},
    "lback_mw.middlewares.TrustedHostMiddleware",
    "lback_mw.middlewares.HTTPSRedirectMiddleware",
    {{"class": "lback_mw.middlewares.CORSMiddleware", "params": {{"allow_origins": [{ORIGIN!r}]}}}},
    "lback_mw.middlewares.GZipMiddleware",
]
"""

ROUTES_PY = """
from lback_mw import Route


def items(request):
    return {"items": [{"id": n, "name": f"item number {n}"} for n in range(100)]}


def boom(request):
    raise RuntimeError("the view failed")


routes = [Route("/api/items", items), Route("/boom", boom)]
"""

#: What a browser behind the proxy sends.
BROWSER = {
    "Origin": ORIGIN,
    "Accept-Encoding": "gzip",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-For": "203.0.113.7",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fullstack")
    package = root / "stackproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(SETTINGS_PY)
    (package / "routes.py").write_text(ROUTES_PY)
    (root / "metrics").mkdir()
    yield root
    for name in [name for name in sys.modules if name.split(".")[0] == "stackproj"]:
        del sys.modules[name]


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[Server]:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(project / "metrics")}
    with serve(project, "stackproj.settings", workers=2, env=env) as running:
        yield running


def test_the_stack_is_in_the_recommended_order_and_check_is_clean(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(project))
    app = create_app("stackproj.settings")
    try:
        roles = [layer.instance.ordering_role for layer in app.chain]
        assert roles == [role for role in RECOMMENDED_ORDER if role in roles]
        assert len(roles) == 9
        assert check_app(app) == []
    finally:
        app.close()


def assert_common_headers(response: HTTPResult, request_id: str) -> None:
    """Headers every answer carries, whatever its status."""
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Strict-Transport-Security"].startswith("max-age=3600")
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "origin" in headers["Vary"].lower()
    assert headers["X-Request-ID"] == request_id
    assert headers["Server-Timing"].startswith("app;dur=")
    assert headers["X-Response-Time"].endswith("ms")


def test_200_is_compressed_and_carries_every_header(server: Server) -> None:
    response = server.get("/api/items", {**BROWSER, "X-Request-ID": "req-200"})
    assert response.status == 200
    assert_common_headers(response, "req-200")
    assert response.headers["Content-Encoding"] == "gzip"
    assert "accept-encoding" in response.headers["Vary"].lower()
    assert json.loads(gzip.decompress(response.body))["items"][99]["id"] == 99


def test_404_carries_every_header(server: Server) -> None:
    response = server.get("/no/such/page", {**BROWSER, "X-Request-ID": "req-404"})
    assert response.status == 404
    assert_common_headers(response, "req-404")


def test_500_carries_every_header_and_hides_the_traceback(server: Server) -> None:
    response = server.get("/boom", {**BROWSER, "X-Request-ID": "req-500"})
    assert response.status == 500
    assert_common_headers(response, "req-500")
    body = response.body
    if response.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    assert b"the view failed" not in body


def test_plain_http_is_redirected_and_a_forged_host_refused(server: Server) -> None:
    redirect = server.get("/api/items?page=2", {"X-Forwarded-For": "203.0.113.7"})
    port = server.url.rsplit(":", 1)[1]
    assert redirect.status == 307
    assert redirect.headers["Location"] == f"https://127.0.0.1:{port}/api/items?page=2"
    refused = server.get("/api/items", {**BROWSER, "Host": "evil.example"})
    assert refused.status == 400
    assert refused.headers["X-Content-Type-Options"] == "nosniff"


def request_counts(server: Server) -> dict[tuple[str, str], float]:
    """``(route, status) -> requests`` from the scrape endpoint, summed over methods."""
    scrape = server.get("/metrics", BROWSER)
    assert scrape.status == 200
    text = scrape.body
    if scrape.headers.get("Content-Encoding") == "gzip":
        text = gzip.decompress(text)
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            if sample.name == "http_requests_total":
                key = (sample.labels["route"], sample.labels["status"])
                counts[key] = counts.get(key, 0) + sample.value
    return counts


def test_metrics_add_up_over_both_workers(server: Server) -> None:
    before = request_counts(server)
    for _ in range(10):
        assert server.get("/api/items", BROWSER).status == 200
    assert server.get("/boom", BROWSER).status == 500
    after = request_counts(server)
    assert after[("/api/items", "200")] - before.get(("/api/items", "200"), 0) == 10
    assert after[("/boom", "500")] - before.get(("/boom", "500"), 0) == 1
