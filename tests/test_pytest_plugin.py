"""The pytest plugin (``lback_mw.pytest_plugin``), run in fresh pytest processes."""

from __future__ import annotations

import textwrap

import pytest

SETTINGS = """
SECRET_KEY = "plugin-test-key-0123456789abcdef"
ROUTES = "plugproj.routes"
RATELIMIT_BACKEND = "memory://"
MIDDLEWARES = [
    {"class": "lback_mw.middlewares.RateLimitMiddleware", "params": {"limit": "1/minute"}},
    "lback_mw.middlewares.SQLAlchemySessionMiddleware",
]
"""

ROUTES = """
from sqlalchemy import text

from lback_mw import Route


def debug(request):
    return {"debug": request.app.settings.DEBUG}


def count(request):
    db = request.db
    db.execute(text("CREATE TABLE IF NOT EXISTS hits (n INTEGER)"))
    db.execute(text("INSERT INTO hits VALUES (1)"))
    db.commit()
    return {"hits": db.execute(text("SELECT COUNT(*) FROM hits")).scalar()}


routes = [Route("/debug", debug), Route("/count", count)]
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    package = pytester.mkpydir("plugproj")
    (package / "settings.py").write_text(SETTINGS)
    (package / "routes.py").write_text(ROUTES)
    return pytester


def run(project: pytest.Pytester, tests: str, *args: str) -> pytest.RunResult:
    project.makepyfile(test_project=textwrap.dedent(tests))
    return project.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_fixtures_from_the_settings_option(project: pytest.Pytester) -> None:
    result = run(
        project,
        """
        import pytest


        def test_client(lback_client):
            assert lback_client.get("/debug").json == {"debug": False}


        @pytest.mark.lback_settings(DEBUG=True)
        def test_marker(lback_client):
            assert lback_client.get("/debug").json == {"debug": True}


        def test_override(lback_app, settings_override):
            with settings_override(DEBUG=True) as app:
                assert app is not lback_app
                assert app.test_client().get("/debug").json == {"debug": True}
            assert lback_app.settings.DEBUG is False
        """,
        "--lback-settings",
        "plugproj.settings",
    )
    result.assert_outcomes(passed=3)


def test_memory_backends_start_empty_in_each_test(project: pytest.Pytester) -> None:
    # A limit of 1/minute: the second request of one test is refused, and the
    # next test starts again at zero.
    tests = """
        def test_first(lback_client):
            assert lback_client.get("/debug").status_code == 200
            assert lback_client.get("/debug").status_code == 429


        def test_second(lback_client):
            assert lback_client.get("/debug").status_code == 200
        """
    run(project, tests, "--lback-settings", "plugproj.settings").assert_outcomes(passed=2)


def test_each_test_gets_a_fresh_sqlite_database(project: pytest.Pytester) -> None:
    tests = """
        import pytest


        @pytest.mark.parametrize("attempt", [1, 2])
        def test_count(lback_client, attempt):
            assert lback_client.get("/count").json == {"hits": 1}
        """
    run(project, tests, "--lback-settings", "plugproj.settings").assert_outcomes(passed=2)


def test_rollback_mode_keeps_the_settings_database_clean(
    project: pytest.Pytester, database_url: str
) -> None:
    """On SQLite and on a real PostgreSQL server: each test's writes are rolled back."""
    project.makeini(
        """
        [pytest]
        lback_settings = plugproj.settings
        lback_db = rollback
        """
    )
    project.makeconftest(
        f"""
        import os

        os.environ["LBACK_DATABASE_URL"] = "{database_url}"
        """
    )
    tests = """
        import pytest
        import sqlalchemy


        def test_table(lback_app):
            engine = sqlalchemy.create_engine(lback_app.settings.DATABASE_URL)
            with engine.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS hits (n INTEGER)")
            engine.dispose()


        @pytest.mark.parametrize("attempt", [1, 2])
        def test_count(lback_client, attempt):
            assert lback_client.get("/count").json == {"hits": 1}
        """
    run(project, tests).assert_outcomes(passed=3)


def test_settings_from_the_environment(project: pytest.Pytester) -> None:
    project.makeconftest('import os\nos.environ["LBACK_SETTINGS"] = "plugproj.settings"\n')
    tests = """
        def test_app(lback_app):
            assert lback_app.settings.ROUTES == "plugproj.routes"
        """
    run(project, tests).assert_outcomes(passed=1)


def test_missing_settings_is_a_clear_failure(project: pytest.Pytester) -> None:
    result = run(project, "def test_app(lback_app):\n    pass\n")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*lback_app, lback_client and settings_override need the project's settings: run "
            "pytest with --lback-settings myproject.settings*"
        ]
    )


def test_projects_not_using_the_fixtures_are_unaffected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        def test_plain(request):
            assert request.fixturenames == ["request"]  # nothing autouse
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
