"""The ``lback-mw`` command line, through click's CliRunner and one real gunicorn."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from werkzeug.serving import WSGIRequestHandler
from werkzeug.test import Client

from lback_mw import App
from lback_mw.cli import cli, describe_middleware
from lback_mw.testing import make_app

from .serving import free_port, serve

SECRET = "a-test-secret-key-that-is-long-enough-1234"

MIDDLEWARES_PY = '''
import os

from lback_mw import BaseMiddleware, MiddlewareNotUsed


class Tag(BaseMiddleware):
    """Marks every response, with the pid of the process that built the app."""

    def __init__(self, config, logger, value: str = "yes"):
        self.value = value
        self.pid = str(os.getpid())

    def process_response(self, request, response):
        response.headers["X-Cli-Test"] = self.value
        response.headers["X-Built-In"] = self.pid
        return response


def api_key(request):
    """A RateLimitMiddleware key_func."""
    return request.headers.get("X-API-Key")


class Timing:
    def dispatch(self, request, call_next):
        return call_next(request)


class Auth(BaseMiddleware):
    ordering_role = "auth"

    def __init__(self, logger, config=None, secret_key: str = "", backend_url: str = ""):
        self.secret_key = secret_key

    def process_request(self, request):
        return None


class Cors(BaseMiddleware):
    ordering_role = "cors"

    def process_response(self, request, response):
        return response


class SecurityHeaders(BaseMiddleware):
    ordering_role = "security_headers"

    def process_response(self, request, response):
        return response


class Gzip(BaseMiddleware):
    ordering_role = "gzip"

    def process_response(self, request, response):
        return response


class NeedsRedis(BaseMiddleware):
    def __init__(self):
        raise MiddlewareNotUsed("REDIS_URL is not set")


class Wrapper:
    def __init__(self, app, tag: str = "w"):
        self.app = app

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)
'''

ROUTES_PY = """
from lback_mw import Route


def hello(request):
    return "hello"


def user(request, id):
    return {"id": id}


routes = [Route("/hello", hello), Route("/users/<int:id>", user, methods=["GET", "POST"])]
"""

TYPO_ROUTES_PY = ROUTES_PY.replace("<int:id>", "<itn:id>")

SETTINGS_PY = f"""
SECRET_KEY = {SECRET!r}
ROUTES = "cliproj.routes"
MIDDLEWARES = ["cliproj.middlewares.Tag"]
"""

GOOD_YAML = f"""
SECRET_KEY: {SECRET}
ROUTES: cliproj.routes
MIDDLEWARES:
  - cliproj.middlewares.Tag
"""

TYPO_YAML = f"""
SECRET_KEY: {SECRET}
MIDDLEWARES:
  - cliproj.middlewares.Tagg
"""


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI puts the current directory on sys.path; undo it after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A project directory holding the package ``cliproj``; not yet on sys.path."""
    package = tmp_path / "cliproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "middlewares.py").write_text(MIDDLEWARES_PY)
    (package / "routes.py").write_text(ROUTES_PY)
    (package / "settings.py").write_text(SETTINGS_PY)
    _forget_cliproj()
    yield tmp_path
    _forget_cliproj()


@pytest.fixture
def on_path(project: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(project))
    return project


def _forget_cliproj() -> None:
    for name in [name for name in sys.modules if name.split(".")[0] == "cliproj"]:
        del sys.modules[name]


def write_settings(directory: Path, text: str, name: str = "settings.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def columns(output: str, label: str) -> list[str]:
    """The cells of the table row whose label column is ``label``."""
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if label in cells[:2]:
            return cells
    raise AssertionError(f"no row for {label!r} in:\n{output}")


# -- settings sources ------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [
        pytest.param("group", id="--settings before the command"),
        pytest.param("command", id="--settings after the command"),
        pytest.param("env", id="LBACK_SETTINGS"),
    ],
)
def test_settings_come_from_option_or_environment(
    on_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    settings = str(write_settings(on_path, GOOD_YAML))
    if where == "group":
        result = invoke("--settings", settings, "routes")
    elif where == "command":
        result = invoke("routes", "--settings", settings)
    else:
        monkeypatch.setenv("LBACK_SETTINGS", settings)
        result = invoke("routes")
    assert result.exit_code == 0, result.output
    assert "/users/<int:id>" in result.stdout


def test_command_settings_win_over_group_settings(on_path: Path) -> None:
    good = str(write_settings(on_path, GOOD_YAML))
    bad = str(write_settings(on_path, TYPO_YAML, "bad.yaml"))
    assert invoke("--settings", bad, "check", "--settings", good).exit_code == 0
    assert invoke("--settings", good, "check", "--settings", bad).exit_code == 1


def test_option_wins_over_environment(on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LBACK_SETTINGS", str(write_settings(on_path, TYPO_YAML, "bad.yaml")))
    result = invoke("check", "--settings", str(write_settings(on_path, GOOD_YAML)))
    assert result.exit_code == 0, result.output


def test_dotted_settings_import_from_the_current_directory(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    assert str(project) not in sys.path
    result = invoke("routes", "--settings", "cliproj.settings")
    assert result.exit_code == 0, result.output
    assert "cliproj.routes.hello" in result.stdout


#: A mistake in the settings or in a route, and the start of its one-line error.
MISTAKES = {
    "middleware typo": (TYPO_YAML, "MIDDLEWARES[0] ('cliproj.middlewares.Tagg')", "'Tag'"),
    "converter typo": (
        GOOD_YAML.replace("cliproj.routes", "cliproj.typo_routes"),
        "Route '/users/<itn:id>': unknown converter 'itn'.",
        "'int'",
    ),
}


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
@pytest.mark.parametrize("command", ["check", "middleware", "routes", "run", "serve"])
def test_bad_settings_exit_1_with_the_message_and_no_traceback(
    on_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, mistake: tuple[str, str, str]
) -> None:
    settings, error, suggestion = mistake
    (on_path / "cliproj" / "typo_routes.py").write_text(TYPO_ROUTES_PY)
    monkeypatch.setattr("lback_mw.cli.run_simple", _refuse_to_serve)
    result = invoke(command, "--settings", str(write_settings(on_path, settings)))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {error}")
    assert f"Did you mean {suggestion}?" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output


def test_missing_settings_say_how_to_give_them() -> None:
    result = invoke("check")
    assert result.exit_code == 1
    assert "--settings" in result.stderr
    assert "LBACK_SETTINGS" in result.stderr


def _refuse_to_serve(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("run_simple must not be reached with bad settings")


# -- check -------------------------------------------------------------------------


def test_check_passes_good_settings(on_path: Path) -> None:
    result = invoke("check", "--settings", str(write_settings(on_path, GOOD_YAML)))
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "Settings loaded: 1 middleware, 0 WSGI wrappers, 0 skipped entries, 2 routes; "
        "no warnings.\n"
    )


RISKY_YAML = """
SECRET_KEY: short
MIDDLEWARES:
  - cliproj.middlewares.Gzip
  - cliproj.middlewares.SecurityHeaders
  - cliproj.middlewares.Auth
  - cliproj.middlewares.Cors
"""


def test_check_warns_about_risky_settings(on_path: Path) -> None:
    result = invoke("check", "--settings", str(write_settings(on_path, RISKY_YAML)))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 3
    assert warnings[0].startswith("WARNING lback.W001: CORS placed inside authentication")
    assert warnings[1].startswith(
        "WARNING lback.W001: security headers placed inside gzip: MIDDLEWARES[1] "
        "('cliproj.middlewares.SecurityHeaders') (role 'security_headers') comes after "
        "MIDDLEWARES[0] ('cliproj.middlewares.Gzip') (role 'gzip')."
    )
    assert warnings[1].endswith("Move MIDDLEWARES[1] above MIDDLEWARES[0].")
    assert warnings[2].startswith("WARNING lback.W004: SECRET_KEY is only 5 characters")
    assert result.stdout.endswith("; 3 warnings.\n")


def test_check_fail_on_warning_exits_1(on_path: Path) -> None:
    risky = str(write_settings(on_path, RISKY_YAML))
    good = str(write_settings(on_path, GOOD_YAML, "good.yaml"))
    assert invoke("check", "--fail-on-warning", "--settings", risky).exit_code == 1
    assert invoke("check", "--fail-on-warning", "--settings", good).exit_code == 0


# -- middleware --------------------------------------------------------------------

CHAIN_YAML = f"""
SECRET_KEY: {SECRET}
MIDDLEWARES:
  - cliproj.middlewares.Tag
  - cliproj.middlewares.NeedsRedis
  - cliproj.middlewares.Timing
  - class: cliproj.middlewares.Auth
    params:
      config: custom
      secret_key: hunter2
      backend_url: "redis://:hunter2@cache:6379/0"
WSGI_MIDDLEWARES:
  - class: cliproj.middlewares.Wrapper
    params: {{tag: outer}}
"""


def test_middleware_table(on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # wide enough for the table layout
    result = invoke("middleware", "--settings", str(write_settings(on_path, CHAIN_YAML)))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert columns(out, "label") == [
        "#",
        "label",
        "class",
        "params",
        "injected",
        "hooks",
        "request",
        "response",
    ]
    assert columns(out, "MIDDLEWARES[0]") == [
        "0",
        "MIDDLEWARES[0]",
        "cliproj.middlewares.Tag",
        "-",
        "config, logger",
        "process_response",
        "-",
        "2",
    ]
    assert columns(out, "MIDDLEWARES[2]") == [
        "1",
        "MIDDLEWARES[2]",
        "cliproj.middlewares.Timing",
        "-",
        "-",
        "dispatch",
        "1",
        "1",
    ]
    assert columns(out, "MIDDLEWARES[3]") == [
        "2",
        "MIDDLEWARES[3]",
        "cliproj.middlewares.Auth",
        "config='custom' (overrides dependency), secret_key='********', "
        "backend_url='redis://:********@cache:6379/0'",
        "logger",
        "process_request",
        "2",
        "-",
    ]
    assert columns(out, "WSGI_MIDDLEWARES[0]") == [
        "WSGI_MIDDLEWARES[0]",
        "cliproj.middlewares.Wrapper",
        "tag='outer'",
        "-",
    ]
    assert columns(out, "MIDDLEWARES[1]") == [
        "MIDDLEWARES[1]",
        "cliproj.middlewares.NeedsRedis",
        "REDIS_URL is not set",
    ]
    assert "hunter2" not in out


def test_middleware_json(on_path: Path) -> None:
    settings = str(write_settings(on_path, CHAIN_YAML))
    result = invoke("middleware", "--json", "--settings", settings)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [
        (
            entry["label"],
            entry["style"],
            entry["hooks"],
            entry["request_order"],
            entry["response_order"],
        )
        for entry in report["chain"]
    ] == [
        ("MIDDLEWARES[0]", "hooks", ["process_response"], None, 2),
        ("MIDDLEWARES[2]", "call_next", ["dispatch"], 1, 1),
        ("MIDDLEWARES[3]", "hooks", ["process_request"], 2, None),
    ]
    auth = report["chain"][2]
    assert auth["params"] == {
        "config": "custom",
        "secret_key": "********",
        "backend_url": "redis://:********@cache:6379/0",
    }
    assert auth["overridden"] == ["config"]
    assert auth["injected"] == ["logger"]
    assert report["wsgi_middleware"] == [
        {
            "label": "WSGI_MIDDLEWARES[0]",
            "class": "cliproj.middlewares.Wrapper",
            "params": {"tag": "outer"},
            "overridden": [],
            "injected": [],
        }
    ]
    assert report["skipped"] == [
        {
            "label": "MIDDLEWARES[1]",
            "class": "cliproj.middlewares.NeedsRedis",
            "reason": "REDIS_URL is not set",
        }
    ]


IMPORTED_YAML = f"""
SECRET_KEY: {SECRET}
MIDDLEWARES:
  - class: lback_mw.middlewares.RateLimitMiddleware
    params: {{limit: 5/minute, key_func: cliproj.middlewares.api_key}}
"""


def test_middleware_shows_an_imported_function_by_its_dotted_path(
    on_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    settings = str(write_settings(on_path, IMPORTED_YAML))
    table = invoke("middleware", "--settings", settings)
    assert table.exit_code == 0, table.output
    assert columns(table.stdout, "MIDDLEWARES[0]")[3] == (
        "limit='5/minute', key_func='cliproj.middlewares.api_key'"
    )
    as_json = invoke("middleware", "--json", "--settings", settings)
    assert json.loads(as_json.stdout)["chain"][0]["params"] == {
        "limit": "5/minute",
        "key_func": "cliproj.middlewares.api_key",
    }


def test_middleware_with_empty_chain(tmp_path: Path) -> None:
    settings = write_settings(tmp_path, f"SECRET_KEY: {SECRET}\n")
    result = invoke("middleware", "--settings", str(settings))
    assert result.exit_code == 0, result.output
    assert result.stdout == "No middleware: requests go straight to the router.\n"


def test_middleware_orders_include_app_level_layers() -> None:
    """app.use, before_request and after_request layers take their turn too."""
    app = make_app()

    @app.middleware
    def outer(request: Any, call_next: Any) -> Any:
        return call_next(request)

    @app.after_request
    def stamp(response: Any) -> Any:
        return response

    @app.before_request
    def load_user(request: Any) -> None:
        return None

    chain = describe_middleware(app)["chain"]
    assert [(e["label"], e["request_order"], e["response_order"]) for e in chain] == [
        ("app.use[0]", 1, 2),
        ("after_request[0]", None, 1),
        ("before_request[0]", 2, None),
    ]


# -- routes ------------------------------------------------------------------------


def test_routes_table(on_path: Path) -> None:
    settings = str(write_settings(on_path, GOOD_YAML))
    result = invoke("routes", "--settings", settings)
    assert result.exit_code == 0, result.output
    assert columns(result.stdout, "rule") == ["rule", "endpoint", "methods", "view"]
    assert columns(result.stdout, "/hello") == ["/hello", "hello", "GET", "cliproj.routes.hello"]
    assert columns(result.stdout, "/users/<int:id>") == [
        "/users/<int:id>",
        "user",
        "GET, POST",
        "cliproj.routes.user",
    ]
    everything = invoke("routes", "--all-methods", "--settings", settings).stdout
    assert columns(everything, "/hello")[2] == "GET, HEAD, OPTIONS"


def test_routes_without_any(tmp_path: Path) -> None:
    settings = write_settings(tmp_path, f"SECRET_KEY: {SECRET}\n")
    result = invoke("routes", "--settings", str(settings))
    assert result.exit_code == 0, result.output
    assert result.stdout == "No routes were registered.\n"


# -- run ---------------------------------------------------------------------------


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The calls ``run`` makes to werkzeug's run_simple, which is not started."""
    calls: list[dict[str, Any]] = []

    def fake_run_simple(hostname: str, port: int, application: Any, **options: Any) -> None:
        calls.append({"hostname": hostname, "port": port, "application": application, **options})

    monkeypatch.setattr("lback_mw.cli.run_simple", fake_run_simple)
    return calls


def test_run_defaults_reload_without_debugger(
    on_path: Path, monkeypatch: pytest.MonkeyPatch, served: list[dict[str, Any]]
) -> None:
    monkeypatch.chdir(on_path)
    write_settings(on_path, GOOD_YAML)
    result = invoke("run", "--settings", "settings.yaml")
    assert result.exit_code == 0, result.output
    [call] = served
    assert (call["hostname"], call["port"]) == ("127.0.0.1", 8000)
    assert call["use_reloader"] is True
    assert call["use_debugger"] is False
    assert call["use_evalex"] is False
    assert call["application"].app.propagate_exceptions is False
    assert call["extra_files"] == [str(on_path / "settings.yaml")]
    assert isinstance(call["application"].app, App)
    assert Client(call["application"].app).get("/hello").headers["X-Cli-Test"] == "yes"


def test_run_reloads_when_the_env_file_changes(
    on_path: Path, monkeypatch: pytest.MonkeyPatch, served: list[dict[str, Any]]
) -> None:
    monkeypatch.chdir(on_path)
    write_settings(on_path, GOOD_YAML)
    (on_path / ".env").write_text("LBACK_APP_GREETING=hello\n")
    assert invoke("run", "--settings", "settings.yaml").exit_code == 0
    assert served[-1]["extra_files"] == [str(on_path / "settings.yaml"), str(on_path / ".env")]
    other = on_path / "other.env"
    other.write_text("LBACK_APP_GREETING=other\n")
    monkeypatch.setenv("LBACK_ENV_FILE", "")  # restored after: --env-file sets it
    assert invoke("--env-file", str(other), "run", "--settings", "settings.yaml").exit_code == 0
    assert served[-1]["extra_files"] == [str(on_path / "settings.yaml"), str(other)]
    assert served[-1]["application"].app.settings.APP_GREETING == "other"


def test_run_debug_and_no_reload(on_path: Path, served: list[dict[str, Any]]) -> None:
    settings = str(write_settings(on_path, GOOD_YAML))
    result = invoke(
        "run",
        "--settings",
        settings,
        "--debug",
        "--no-reload",
        "--host",
        "0.0.0.0",
        "--port",
        "5001",
    )
    assert result.exit_code == 0, result.output
    [call] = served
    assert (call["hostname"], call["port"]) == ("0.0.0.0", 5001)
    assert call["use_reloader"] is False
    assert call["use_debugger"] is True
    assert call["use_evalex"] is True
    assert call["application"].app.propagate_exceptions is True


def test_run_keeps_the_reloader_alive_on_bad_settings(
    on_path: Path, monkeypatch: pytest.MonkeyPatch, served: list[dict[str, Any]]
) -> None:
    """In the reloader's child, a typo serves its message until the file is fixed."""
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    result = invoke("run", "--settings", str(write_settings(on_path, TYPO_YAML)))
    assert result.exit_code == 0, result.output
    assert "Error: MIDDLEWARES[0]" in result.stderr
    response = Client(served[0]["application"].app).get("/hello")
    assert response.status_code == 500
    assert "Did you mean 'Tag'?" in response.get_data(as_text=True)


def _fetch(url: str) -> tuple[int, bytes] | None:
    """(status, body) of a GET, or ``None`` while nothing listens (a restart)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()
    except (urllib.error.URLError, OSError):  # refused, or queued during a restart
        return None


def _poll(condition: Callable[[], bool], what: str, log: Path, touch: Path | None = None) -> None:
    """Wait until ``condition()``; ``touch`` is saved again every few tries in case
    the reloader took its first look at the files after the last save."""
    deadline = time.monotonic() + 30
    tries = 0
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"lback-mw run: {what} did not happen:\n{log.read_text()}")
        tries += 1
        if touch is not None and tries % 20 == 0:
            os.utime(touch)
        time.sleep(0.1)


def test_run_reloader_survives_a_route_typo_saved_while_it_serves(project: Path) -> None:
    """The real reloader over loopback: serve, save a typo, see the error, fix, serve again."""
    write_settings(project, GOOD_YAML)
    url = f"http://127.0.0.1:{free_port()}/hello"
    port = url.split(":")[2].split("/")[0]
    env = {name: value for name, value in os.environ.items() if not name.startswith("LBACK_")}
    log = project / "run.log"
    command = [sys.executable, "-m", "lback_mw", "run", "--settings", "settings.yaml"]
    with log.open("wb") as out:
        # A session of its own: the reloader's child is in it, and both stop together.
        process = subprocess.Popen(
            [*command, "--port", port],
            cwd=project,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    routes = project / "cliproj" / "routes.py"
    try:
        _poll(lambda: _fetch(url) == (200, b"hello"), "first answer", log)
        routes.write_text(TYPO_ROUTES_PY)
        error = "Error: Route '/users/<itn:id>': unknown converter 'itn'. Did you mean 'int'?"
        _poll(lambda: error in log.read_text(), "the error line", log, touch=routes)
        answer = _fetch(url)
        assert answer is not None
        assert answer[0] == 500
        assert b"unknown converter 'itn'" in answer[1]
        routes.write_text(ROUTES_PY)
        _poll(lambda: _fetch(url) == (200, b"hello"), "recovery", log, touch=routes)
        assert process.poll() is None
        assert "Traceback" not in log.read_text()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)


# -- serve -------------------------------------------------------------------------


def test_serve_without_gunicorn_says_what_to_install(
    on_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gunicorn.app.base", None)  # import fails
    result = invoke("serve", "--settings", str(write_settings(on_path, GOOD_YAML)))
    assert result.exit_code == 1
    assert "pip install 'lback_mw[server]'" in result.stderr


def test_serve_configures_gunicorn_and_each_worker_builds_the_app(
    on_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gunicorn.app.base import BaseApplication

    started: list[Any] = []
    monkeypatch.setattr(BaseApplication, "run", lambda self: started.append(self))
    monkeypatch.chdir(on_path)
    write_settings(on_path, GOOD_YAML)
    # Set so that the test restores it: serve passes the settings on through it.
    monkeypatch.setenv("LBACK_SETTINGS", "settings.yaml")
    result = invoke(
        "serve", "-w", "3", "-b", "127.0.0.1:9001", "-b", "127.0.0.1:9002", "--timeout", "5"
    )
    assert result.exit_code == 0, result.output
    [application] = started
    assert application.cfg.workers == 3
    assert application.cfg.bind == ["127.0.0.1:9001", "127.0.0.1:9002"]
    assert application.cfg.timeout == 5
    assert os.environ["LBACK_SETTINGS"] == str(on_path / "settings.yaml")
    monkeypatch.chdir("/")  # a worker finds the settings wherever it runs
    app = application.load()
    assert isinstance(app, App)
    assert [layer.path for layer in app.chain] == ["cliproj.middlewares.Tag"]


def test_serve_answers_requests_from_gunicorn_workers(project: Path) -> None:
    write_settings(project, GOOD_YAML)
    with serve(project, "settings.yaml", workers=2, ready_path="/hello") as server:
        response = server.get("/hello")
        assert response.status == 200
        assert response.body == b"hello"
        assert response.headers["X-Cli-Test"] == "yes"
        assert response.headers["Server"] == "gunicorn"
        built_in = response.headers["X-Built-In"]
        # The app that answered was built by one of two workers, not by the master.
        workers = server.worker_pids(expected=2)
        assert len(workers) == 2
        assert built_in in workers
        assert str(server.process.pid) not in workers
    assert server.process.returncode == 0, server.log()


ACCESS_LOG_YAML = f"""
SECRET_KEY: {SECRET}
ROUTES: cliproj.routes
MIDDLEWARES:
  - lback_mw.middlewares.AccessLogMiddleware
"""


def test_run_shows_the_access_log_instead_of_werkzeugs_request_lines(
    on_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    served: list[dict[str, Any]],
    request: pytest.FixtureRequest,
) -> None:
    import logging

    # As in a fresh process: nobody configured logging (pytest's own handlers aside).
    monkeypatch.setattr(logging.getLogger(), "handlers", [])
    lback_logger = logging.getLogger("lback_mw")
    access_logger = logging.getLogger("lback_mw.access")
    for logger in (lback_logger, access_logger):  # the default logging configures both
        monkeypatch.setattr(logger, "handlers", [])
        monkeypatch.setattr(logger, "propagate", True)
        # setLevel, not setattr: it also clears the loggers' isEnabledFor caches, so
        # INFO does not stay enabled for the tests after this one.
        request.addfinalizer(functools.partial(logger.setLevel, logger.level))
        logger.setLevel(logging.NOTSET)
    monkeypatch.setattr("lback_mw.log_config._applied", None)
    result = invoke("run", "--settings", str(write_settings(on_path, ACCESS_LOG_YAML)))
    assert result.exit_code == 0, result.output
    handler_class = served[0]["request_handler"]
    assert issubclass(handler_class, WSGIRequestHandler)
    assert handler_class.log_request is not WSGIRequestHandler.log_request
    assert lback_logger.isEnabledFor(logging.INFO)
    assert len(lback_logger.handlers) == 1
    assert access_logger.isEnabledFor(logging.INFO)
    assert len(access_logger.handlers) == 1


def test_run_keeps_werkzeugs_request_lines_without_an_access_log(
    on_path: Path, served: list[dict[str, Any]]
) -> None:
    result = invoke("run", "--settings", str(write_settings(on_path, GOOD_YAML)))
    assert result.exit_code == 0, result.output
    handler_class = served[0]["request_handler"]
    assert handler_class.log_request is WSGIRequestHandler.log_request


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("secret_key", "hunter2", "********"),
        ("fallback_keys", ["old-secret"], "********"),
        ("signing_key", "k3y", "********"),
        ("token", "abc", "********"),
        ("api_key", "abc", "********"),
        ("allow_credentials", True, True),  # a flag, not a secret
        ("token", None, None),
        ("key", "user", "user"),  # what a rate limit is keyed by
        ("backend", "redis://:hunter2@cache:6379/0", "redis://:********@cache:6379/0"),
        # One redaction for every URL shown: the query's password and Sentinel's hosts too.
        ("backend", "redis://cache/0?password=hunter2", "redis://cache/0?password=********"),
        (
            "backend",
            "redis+sentinel://:hunter2@s1:26379,s2:26379/mymaster",
            "redis+sentinel://:********@s1:26379,s2:26379/mymaster",
        ),
    ],
)
def test_secret_looking_params_are_hidden(name: str, value: Any, shown: Any) -> None:
    from lback_mw.cli import _safe_value

    assert _safe_value(name, value) == shown


# -- route-aware middleware --------------------------------------------------------

ROUTED_PY = """
from lback_mw import Route


def notes(request):
    return "notes"


def health(request):
    return "ok"


routes = [
    Route(
        "/api/notes",
        notes,
        methods=["GET", "POST"],
        middleware=[{"class": "cliproj.middlewares.Tag", "params": {"value": "api"}}],
        exclude_middleware=["cliproj.middlewares.SecurityHeaders"],
    ),
    Route("/health", health, exclude_middleware=["cliproj.middlewares.Cors"]),
]
"""

ROUTED_YAML = f"""
SECRET_KEY: {SECRET}
ROUTES: cliproj.routed
MIDDLEWARES:
  - cliproj.middlewares.SecurityHeaders
  - class: cliproj.middlewares.Cors
    paths: [/api/*, /health, /graphql/*]
  - class: cliproj.middlewares.Gzip
    exclude_paths: [/health, /metrics]
"""


@pytest.fixture
def routed(on_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "400")  # the table layout, read column by column
    (on_path / "cliproj" / "routed.py").write_text(ROUTED_PY)
    return str(write_settings(on_path, ROUTED_YAML))


def test_middleware_for_a_path_shows_the_effective_chain_with_reasons(routed: str) -> None:
    result = invoke("middleware", "--path", "/api/notes", "--method", "post", "--settings", routed)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("POST /api/notes -> route '/api/notes' (endpoint 'notes')\n")
    assert columns(out, "MIDDLEWARES[0]") == [
        "MIDDLEWARES[0]",
        "cliproj.middlewares.SecurityHeaders",
        "no",
        "switched off by ROUTES[0].exclude_middleware[0]",
    ]
    assert columns(out, "MIDDLEWARES[1]")[2:] == ["yes", "paths pattern '/api/*' matches"]
    assert columns(out, "MIDDLEWARES[2]")[2:] == ["yes", "not in exclude_paths"]
    assert columns(out, "ROUTES[0].middleware[0]") == [
        "ROUTES[0].middleware[0]",
        "cliproj.middlewares.Tag",
        "process_response",
    ]
    assert out.endswith("\nView: cliproj.routed.notes\n")


def test_middleware_for_an_unmatched_path_says_so(routed: str) -> None:
    result = invoke("middleware", "--path", "/nowhere", "--settings", routed)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("GET /nowhere: no route matches (404 Not Found)")
    assert columns(result.stdout, "MIDDLEWARES[1]")[2:] == [
        "no",
        "paths ['/api/*', '/health', '/graphql/*'] do not match '/nowhere'",
    ]
    assert "View:" not in result.stdout


def test_middleware_for_a_path_as_json(routed: str) -> None:
    result = invoke("middleware", "--path", "/health", "--json", "--settings", routed)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["rule"], report["endpoint"], report["view"]) == (
        "/health",
        "health",
        "cliproj.routed.health",
    )
    assert [(entry["label"], entry["runs"], entry["reason"]) for entry in report["chain"]] == [
        ("MIDDLEWARES[0]", True, "runs for every path"),
        ("MIDDLEWARES[1]", False, "switched off by ROUTES[1].exclude_middleware[0]"),
        ("MIDDLEWARES[2]", False, "exclude_paths pattern '/health' matches"),
    ]
    assert report["route_middleware"] == []


def test_middleware_path_must_be_a_path(routed: str) -> None:
    result = invoke("middleware", "--path", "api/notes", "--settings", routed)
    assert result.exit_code == 2
    assert "'api/notes' is not a path; write it as '/api/notes'." in result.output


def test_middleware_table_shows_each_entry_scope(routed: str) -> None:
    result = invoke("middleware", "--json", "--settings", routed)
    assert result.exit_code == 0, result.output
    chain = json.loads(result.stdout)["chain"]
    assert [(entry["paths"], entry["exclude_paths"]) for entry in chain] == [
        (None, None),
        (["/api/*", "/health", "/graphql/*"], None),
        (None, ["/health", "/metrics"]),
    ]


def test_routes_show_each_route_own_middleware_and_exclusions(routed: str) -> None:
    result = invoke("routes", "--settings", routed)
    assert result.exit_code == 0, result.output
    assert columns(result.stdout, "/api/notes") == [
        "/api/notes",
        "notes",
        "GET, POST",
        "cliproj.routed.notes",
        "cliproj.middlewares.Tag",
        "cliproj.middlewares.SecurityHeaders",
    ]
    assert columns(result.stdout, "/health")[4:] == ["-", "cliproj.middlewares.Cors"]


def test_check_warns_about_unmatched_patterns_and_unprotected_routes(routed: str) -> None:
    result = invoke("check", "--settings", routed)
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stdout.splitlines() if line.startswith("WARNING")]
    assert warnings == [
        "WARNING lback.W201: MIDDLEWARES[1] ('cliproj.middlewares.Cors'): paths pattern "
        "'/graphql/*' matches no route, so the middleware meets only 404s there, and what "
        "middleware outside it serves itself. Check it against 'lback-mw routes' (a '/api/*' "
        "prefix covers '/api' and everything under it).",
        "WARNING lback.W202: ROUTES[0].exclude_middleware[0] switches security headers "
        "(cliproj.middlewares.SecurityHeaders) off for '/api/notes', which accepts POST. Keep "
        "it on for routes that change state; exempt one view from CSRF with @csrf_exempt when "
        "another server calls it (a webhook with its own signature).",
    ]
