"""The ``lback-mw`` command line, through click's CliRunner and one real gunicorn."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from werkzeug.test import Client

from lback_mw import App
from lback_mw.cli import cli, describe_middleware
from lback_mw.testing import make_app

from .serving import serve

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


@pytest.mark.parametrize("command", ["check", "middleware", "routes", "run", "serve"])
def test_bad_settings_exit_1_with_the_message_and_no_traceback(
    on_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setattr("lback_mw.cli.run_simple", _refuse_to_serve)
    result = invoke(command, "--settings", str(write_settings(on_path, TYPO_YAML)))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "Error: MIDDLEWARES[0] ('cliproj.middlewares.Tagg')" in result.stderr
    assert "Did you mean 'Tag'?" in result.stderr
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
    assert call["application"].propagate_exceptions is False
    assert call["extra_files"] == [str(on_path / "settings.yaml")]
    assert isinstance(call["application"], App)
    assert Client(call["application"]).get("/hello").headers["X-Cli-Test"] == "yes"


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
    assert call["application"].propagate_exceptions is True


def test_run_keeps_the_reloader_alive_on_bad_settings(
    on_path: Path, monkeypatch: pytest.MonkeyPatch, served: list[dict[str, Any]]
) -> None:
    """In the reloader's child, a typo serves its message until the file is fixed."""
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    result = invoke("run", "--settings", str(write_settings(on_path, TYPO_YAML)))
    assert result.exit_code == 0, result.output
    assert "Error: MIDDLEWARES[0]" in result.stderr
    response = Client(served[0]["application"]).get("/hello")
    assert response.status_code == 500
    assert "Did you mean 'Tag'?" in response.get_data(as_text=True)


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

    from werkzeug.serving import WSGIRequestHandler

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
    assert served[0]["request_handler"] is None


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
    ],
)
def test_secret_looking_params_are_hidden(name: str, value: Any, shown: Any) -> None:
    from lback_mw.cli import _safe_value

    assert _safe_value(name, value) == shown
