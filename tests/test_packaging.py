"""What an installed lback_mw promises about itself: its version, and what it imports."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import lback_mw

ROOT = Path(__file__).resolve().parent.parent

#: Imported only when a project uses them (a database, templates, YAML settings,
#: metrics, Redis), never by building an app that does not.
LAZY = ("sqlalchemy", "jinja2", "yaml", "prometheus_client", "redis")
#: Imported by neither ``import lback_mw`` nor building an app that uses no
#: ``LOGGING``: the test client (and werkzeug's linter under it) and the
#: standard library's ``logging.config``.
LAZY_IN_CORE = ("lback_mw._client", "werkzeug.middleware.lint", "logging.config")


def test_version_is_the_one_in_pyproject() -> None:
    with (ROOT / "pyproject.toml").open("rb") as file:
        declared = tomllib.load(file)["project"]["version"]
    assert lback_mw.__version__ == version("lback_mw") == declared


def test_the_version_is_read_on_first_access_only() -> None:
    code = (
        "import lback_mw\n"
        "assert '__version__' not in vars(lback_mw), 'read at import'\n"
        "from lback_mw import __version__\n"
        "assert vars(lback_mw)['__version__'] == __version__ == lback_mw.__version__\n"
        "try:\n"
        "    lback_mw.no_such_name\n"
        "except AttributeError as exc:\n"
        "    assert str(exc) == \"module 'lback_mw' has no attribute 'no_such_name'\", exc\n"
        "else:\n"
        "    raise AssertionError('no AttributeError')"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def imported_after(code: str, modules: tuple[str, ...] = LAZY) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after running ``code``."""
    listed = f"[m for m in {modules!r} if m in sys.modules]"
    probe = f"{code}\nimport sys, json\nprint(json.dumps({listed}))"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    imported: list[str] = json.loads(result.stdout.splitlines()[-1])
    return imported


def test_an_app_without_database_or_templates_imports_none_of_them() -> None:
    code = (
        "import lback_mw\n"
        "app = lback_mw.create_app({'DEBUG': True, 'SESSION_BACKEND': 'memory://', "
        "'MIDDLEWARES': ['lback_mw.middlewares.SecurityHeadersMiddleware', "
        "'lback_mw.middlewares.SessionMiddleware', {'class': "
        "'lback_mw.middlewares.RateLimitMiddleware', 'params': {'limit': '5/minute'}}]})\n"
        "assert app.test_client().get('/').status_code == 404\n"
        "app.close()"
    )
    assert imported_after(code) == []


def test_an_app_with_templates_imports_jinja2_on_the_first_render_only(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("<p>{{ greeting }}</p>", encoding="utf-8")
    build = (
        "import lback_mw\n"
        f"app = lback_mw.create_app({{'SECRET_KEY': 'packaging-test-secret-key-0123456789-abc',\n"
        f" 'TEMPLATE_DIRS': [{str(tmp_path)!r}],\n"
        " 'MIDDLEWARES': ['lback_mw.middlewares.CSRFMiddleware']})\n"
        "renderer = app.dependencies.resolve('template_renderer')"
    )
    assert imported_after(build) == []
    render = "\nassert renderer.render('page.html', greeting='<hi>') == '<p>&lt;hi&gt;</p>'"
    assert imported_after(build + render) == ["jinja2"]


def test_the_database_dependency_still_imports_sqlalchemy_on_first_use() -> None:
    code = (
        "import lback_mw\n"
        "app = lback_mw.create_app({'DEBUG': True, 'DATABASE_URL': 'sqlite://'})\n"
        "app.dependencies.resolve('db_session')\n"
        "app.close()"
    )
    assert imported_after(code) == ["sqlalchemy"]


def test_import_and_create_app_leave_the_lazy_core_modules_unimported() -> None:
    code = (
        "import lback_mw\n"
        "app = lback_mw.create_app({'SECRET_KEY': 'packaging-test-secret-key-0123456789-abc',\n"
        " 'ALLOWED_HOSTS': ['localhost'],\n"
        " 'MIDDLEWARES': ['lback_mw.middlewares.SecurityHeadersMiddleware',\n"
        "                 'lback_mw.middlewares.TrustedHostMiddleware']})\n"
        "app.route('/')(lambda request: 'hello')"
    )
    assert imported_after(code, LAZY_IN_CORE) == []


def test_the_lazy_core_modules_are_imported_when_used() -> None:
    code = (
        "import lback_mw\n"
        "app = lback_mw.create_app({'SECRET_KEY': 'packaging-test-secret-key-0123456789-abc',\n"
        " 'LOGGING': {'version': 1}})\n"
        "assert app.test_client().get('/').status_code == 404"
    )
    assert imported_after(code, LAZY_IN_CORE) == list(LAZY_IN_CORE)
