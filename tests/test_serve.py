"""``lback-mw serve`` for real (gunicorn on 127.0.0.1): logging, gunicorn's own
options, ``--app``, and the start-up warning about memory backends."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .serving import serve

pytest.importorskip("gunicorn", reason="lback-mw serve runs gunicorn: pip install gunicorn")

SECRET = "a-test-secret-key-that-is-long-enough-1234"

ROUTES_PY = """
from lback_mw import Route


def hello(request):
    return "hello"


routes = [Route("/hello", hello)]
"""

#: The README quickstart's module: routes registered in code, with @app.route.
WSGI_PY = """
from lback_mw import create_app

app = create_app("serveproj.settings")


@app.route("/hello/<name>")
def greet(request, name):
    return {"hello": name}
"""

ACCESS_LINE = r'127\.0\.0\.1 - - \[[^]]+\] "GET /hello HTTP/1\.1" 200 5'


def settings(extra: str = "") -> str:
    return textwrap.dedent(
        f"""
        SECRET_KEY = {SECRET!r}
        ROUTES = "serveproj.routes"
        MIDDLEWARES = ["lback_mw.middlewares.AccessLogMiddleware"]
        """
    ) + textwrap.dedent(extra)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    package = tmp_path / "serveproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "routes.py").write_text(ROUTES_PY)
    (package / "wsgi.py").write_text(WSGI_PY)
    (package / "settings.py").write_text(settings())
    return tmp_path


def test_access_log_is_on_stderr_by_default(project: Path) -> None:
    with serve(project, "serveproj.settings", stdout_apart=True) as server:
        assert server.get("/hello").status == 200
        server.wait_for_log(ACCESS_LINE)


def test_logging_setting_is_applied_under_serve(project: Path) -> None:
    access_file = project / "access.log"
    (project / "serveproj" / "settings.py").write_text(settings(_file_logging(access_file)))
    with serve(project, "serveproj.settings", workers=2, ready_path="/hello") as server:
        for _ in range(3):
            assert server.get("/hello").status == 200
        lines = _wait_for_lines(access_file, 4)
    # The dictConfig handler writes the message alone; the default would not be used.
    assert all(re.fullmatch(ACCESS_LINE + r" .*", line) for line in lines), lines
    assert not re.search(ACCESS_LINE, server.log())


def test_plain_gunicorn_logs_as_serve_does(project: Path) -> None:
    # LOGGING is applied by create_app, so gunicorn on the module needs nothing more.
    access_file = project / "access.log"
    (project / "serveproj" / "settings.py").write_text(settings(_file_logging(access_file)))
    with serve(project, None, gunicorn_app="serveproj.wsgi:app", ready_path="/hello") as server:
        assert server.get("/hello").status == 200
        lines = _wait_for_lines(access_file, 2)
    assert all(re.fullmatch(ACCESS_LINE + r" .*", line) for line in lines), lines


def test_gunicorn_config_file_and_flags_pass_through(project: Path) -> None:
    (project / "gunicorn.conf.py").write_text(
        "workers = 3\n\ndef when_ready(server):\n    server.log.info('config file was read')\n"
    )
    flags = ["--", "--access-logfile", "-", "--access-logformat", "GUNICORN-ACCESS %(s)s %(U)s"]
    with serve(
        project, "serveproj.settings", workers=None, args=["-c", "gunicorn.conf.py", *flags]
    ) as server:
        assert len(server.worker_pids(3)) == 3  # the file's workers beat serve's default 2
        server.wait_for_log("config file was read")
        assert server.get("/hello").status == 200
        server.wait_for_log("GUNICORN-ACCESS 200 /hello")


@pytest.mark.parametrize(
    ("options", "workers"),
    [
        pytest.param([], "3", id="the file beats serve's defaults"),
        pytest.param(["--workers", "1"], "1", id="an option given beats the file"),
        pytest.param(["--workers", "1", "--", "--workers", "4"], "4", id="flags after -- win"),
    ],
)
def test_gunicorn_option_precedence(project: Path, options: list[str], workers: str) -> None:
    (project / "gunicorn.conf.py").write_text("workers = 3\n")
    command = [sys.executable, "-m", "lback_mw", "serve", "--settings", "serveproj.settings"]
    command += ["-c", "gunicorn.conf.py", *options]
    command += [] if "--" in options else ["--"]
    result = subprocess.run(
        [*command, "--print-config"], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^workers\s+= {workers}$", result.stdout, re.MULTILINE), result.stdout


def test_a_positional_gunicorn_argument_is_refused(project: Path) -> None:
    command = [sys.executable, "-m", "lback_mw", "serve", "--settings", "serveproj.settings"]
    result = subprocess.run(
        [*command, "--", "serveproj.wsgi:app"], cwd=project, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "loads the app itself; drop 'serveproj.wsgi:app' after --" in result.stderr
    assert "--app MODULE:NAME" in result.stderr


def test_app_target_serves_routes_registered_in_code(project: Path) -> None:
    with serve(project, None, args=["--app", "serveproj.wsgi:app"]) as server:
        response = server.get("/hello/world")
        assert response.status == 200
        assert response.body == b'{"hello":"world"}'


@pytest.mark.parametrize(
    ("setting", "middleware"),
    [
        pytest.param(
            "RATELIMIT_BACKEND", "lback_mw.middlewares.RateLimitMiddleware", id="rate limits"
        ),
        pytest.param("SESSION_BACKEND", "lback_mw.middlewares.SessionMiddleware", id="sessions"),
    ],
)
def test_several_workers_with_a_memory_backend_warn(
    project: Path, setting: str, middleware: str
) -> None:
    (project / "serveproj" / "settings.py").write_text(
        settings(f"{setting} = 'memory://'\nMIDDLEWARES = [{_entry(middleware)!r}]\n")
    )
    with serve(project, "serveproj.settings", workers=2, stdout_apart=True) as server:
        line = server.wait_for_log(r"WARNING lback\.E001: .*")
    assert f"MIDDLEWARES[0] ('{middleware}') keeps its state in memory:// with 2 workers" in line
    assert f"Set {setting} (or the layer's 'backend' param) to a Redis URL" in line


def test_one_worker_with_a_memory_backend_does_not_warn(project: Path) -> None:
    (project / "serveproj" / "settings.py").write_text(
        settings(f"MIDDLEWARES = [{_entry('lback_mw.middlewares.RateLimitMiddleware')!r}]\n")
    )
    with serve(project, "serveproj.settings", workers=1) as server:
        # The warning is printed before gunicorn starts, so it would be there by now.
        assert "lback.E001" not in server.log()


def _file_logging(path: Path) -> str:
    """A LOGGING setting that sends the access log to ``path``, the message alone."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"file": {"class": "logging.FileHandler", "filename": str(path)}},
        "loggers": {"lback_mw.access": {"handlers": ["file"], "level": "INFO"}},
    }
    return f"LOGGING = {config!r}\n"


def _entry(middleware: str) -> dict[str, object]:
    params = {"limit": "100/minute"} if middleware.endswith("RateLimitMiddleware") else {}
    return {"class": middleware, "params": params}


def _wait_for_lines(path: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            assert len(lines) >= count, lines
            return lines
        time.sleep(0.1)
