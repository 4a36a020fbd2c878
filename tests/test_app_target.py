"""``--app module:attribute`` and ``LBACK_APP`` on every command, and their errors."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from lback_mw import App, ImproperlyConfigured
from lback_mw.app_target import load_app_target
from lback_mw.cli import cli

from .test_docs import ROOT, parse_blocks

#: The README quickstart, file for file.
QUICKSTART = {
    "middlewares.py": """
        import time

        from werkzeug.wrappers import Response

        from lback_mw import BaseMiddleware, Request


        class TimerMiddleware(BaseMiddleware):
            def process_request(self, request: Request) -> None:
                request.start_time = time.perf_counter()

            def process_response(self, request: Request, response: Response) -> Response:
                elapsed_ms = (time.perf_counter() - request.start_time) * 1000
                response.headers["X-Response-Time"] = f"{elapsed_ms:.2f}ms"
                return response
        """,
    "settings.py": """
        DEBUG = True
        SECRET_KEY = "dev-only-insecure-key"
        MIDDLEWARES = ["quickproj.middlewares.TimerMiddleware"]
        """,
    "wsgi.py": """
        from lback_mw import Request, create_app

        app = create_app("quickproj.settings")


        @app.route("/hello/<name>")
        def hello(request: Request, name: str) -> dict[str, str]:
            return {"hello": name}


        def create() -> object:
            return app


        def not_an_app() -> int:
            return 42


        NUMBER = 7
        """,
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    package = tmp_path / "quickproj"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in QUICKSTART.items():
        (package / name).write_text(textwrap.dedent(text))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    yield tmp_path
    for name in [name for name in sys.modules if name.split(".")[0] == "quickproj"]:
        del sys.modules[name]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def readme_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The README's quickstart files (``myproject/...``), exactly as the README shows them."""
    for block in parse_blocks(ROOT / "README.md"):
        if block.title and block.title.startswith("myproject/"):
            path = tmp_path / block.title
            path.parent.mkdir(exist_ok=True)
            path.write_text(block.source)
    (tmp_path / "myproject" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    yield tmp_path
    for name in [name for name in sys.modules if name.split(".")[0] == "myproject"]:
        del sys.modules[name]


def test_readme_quickstart_routes_show_with_app(readme_project: Path) -> None:
    assert (readme_project / "myproject" / "wsgi.py").is_file()
    result = invoke("routes", "--app", "myproject.wsgi:app")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "rule           endpoint  methods  view",
        "-------------  --------  -------  --------------------",
        "/hello/<name>  hello     GET      myproject.wsgi.hello",
    ]


def test_routes_shows_the_routes_registered_in_code(project: Path) -> None:
    plain = invoke("routes", "--settings", "quickproj.settings")
    assert plain.stdout == "No routes were registered.\n"
    result = invoke("routes", "--app", "quickproj.wsgi:app")
    assert result.exit_code == 0, result.output
    assert "/hello/<name>  hello     GET      quickproj.wsgi.hello" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["routes"], id="routes"),
        pytest.param(["middleware", "--json"], id="middleware"),
        pytest.param(["check"], id="check"),
    ],
)
def test_lback_app_environment_variable(
    project: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("LBACK_APP", "quickproj.wsgi:create")
    result = invoke(*command)
    assert result.exit_code == 0, result.output
    expected = {
        "routes": "/hello/<name>",
        "middleware": "quickproj.middlewares.TimerMiddleware",
        "check": "1 route",
    }
    assert expected[command[0]] in result.stdout


def test_run_uses_the_app_target(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[object] = []
    monkeypatch.setattr("lback_mw.cli.run_simple", lambda *args, **kw: served.append(args[2]))
    result = invoke("run", "--no-reload", "--app", "quickproj.wsgi")
    assert result.exit_code == 0, result.output
    [served_app] = served
    app = served_app.app  # type: ignore[attr-defined]  # run serves it wrapped
    assert isinstance(app, App)
    assert app.test_client().get("/hello/you").json == {"hello": "you"}


def test_module_alone_finds_app(project: Path) -> None:
    assert load_app_target("quickproj.wsgi").router.rules()


@pytest.mark.parametrize(
    ("target", "message"),
    [
        pytest.param(
            "quickproj.wsgi:ap",
            "--app 'quickproj.wsgi:ap': module 'quickproj.wsgi' has no attribute 'ap'. "
            "Did you mean 'app'?",
            id="attribute typo",
        ),
        pytest.param(
            "quickproj.wsgy:app",
            "--app 'quickproj.wsgy:app': no module named 'quickproj.wsgy'. Run the command "
            "from the project root, or check the dotted path.",
            id="module typo",
        ),
        pytest.param(
            "quickproj.wsgi:NUMBER",
            "--app 'quickproj.wsgi:NUMBER' (quickproj.wsgi:NUMBER) is a int, not a "
            "lback_mw.App or a factory returning one.",
            id="not an app",
        ),
        pytest.param(
            "quickproj.wsgi:not_an_app",
            "--app 'quickproj.wsgi:not_an_app' (quickproj.wsgi:not_an_app): the factory "
            "returned int, not a lback_mw.App.",
            id="factory returns something else",
        ),
        pytest.param(
            "quickproj.settings",
            "--app 'quickproj.settings': module 'quickproj.settings' has no attribute "
            "'app' or 'create_app'.",
            id="module without app",
        ),
        pytest.param(
            "quickproj.wsgi:", "--app 'quickproj.wsgi:': write module:attribute", id="empty"
        ),
    ],
)
def test_target_errors_say_what_to_fix(project: Path, target: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as caught:
        load_app_target(target)
    assert str(caught.value).startswith(message)


def test_a_bad_target_is_one_line_from_the_cli(project: Path) -> None:
    result = invoke("check", "--app", "quickproj.wsgi:ap")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --app 'quickproj.wsgi:ap': module 'quickproj.wsgi' has no attribute 'ap'. "
        "Did you mean 'app'?\n"
    )
