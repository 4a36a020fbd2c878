"""Dependencies: the built-in ones, lazy creation, DEPENDENCIES and app.provide."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request, Settings
from lback_mw.injection import Dependencies
from lback_mw.templating import TemplateRenderer
from lback_mw.testing import make_app
from tests import sample_dependencies


class UsesDb(BaseMiddleware):
    def __init__(self, db_session: sessionmaker[Session]) -> None:
        self.db_session = db_session

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        return None


class UsesRenderer(BaseMiddleware):
    def __init__(self, template_renderer: TemplateRenderer) -> None:
        self.renderer = template_renderer

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        return None


class UsesGreeter(BaseMiddleware):
    def __init__(self, greeter: Callable[[str], str], table: dict[str, str]) -> None:
        self.greeter = greeter
        self.table = table

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        return None


def test_db_session_is_created_only_when_asked_for(
    app_factory: Callable[..., App], tmp_path: Path
) -> None:
    app = app_factory(BASE_DIR=tmp_path)
    assert not app.dependencies.is_created("db_session")
    app = app_factory(BASE_DIR=tmp_path, MIDDLEWARES=[UsesDb])
    assert app.dependencies.is_created("db_session")
    factory = app.configured_middleware[0].instance.db_session
    with factory() as session:
        assert session.execute(text("select 41 + 1")).scalar() == 42
    assert factory.kw["bind"].url.database == str(tmp_path / "db.sqlite3")
    assert (tmp_path / "db.sqlite3").exists()


def test_database_url_setting_is_used(app_factory: Callable[..., App], database_url: str) -> None:
    app = app_factory(DATABASE_URL=database_url)
    factory = app.dependencies["db_session"]
    assert factory.kw["bind"].url.render_as_string(hide_password=False) == database_url
    with factory() as session:
        assert session.execute(text("select 41 + 1")).scalar() == 42
    app.close()
    assert factory.kw["bind"].pool.checkedout() == 0


def test_unusable_database_url_hides_the_password(app_factory: Callable[..., App]) -> None:
    app = app_factory(DATABASE_URL="nosuchdb://user:hunter2@localhost/db")
    with pytest.raises(ImproperlyConfigured) as info:
        app.dependencies["db_session"]
    assert "hunter2" not in str(info.value)
    assert "DATABASE_URL 'nosuchdb://user:***@localhost/db' is not usable" in str(info.value)


def test_template_renderer_autoescapes(app_factory: Callable[..., App], tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "hello.html").write_text("<p>Hello {{ name }}</p>")
    app = app_factory(BASE_DIR=tmp_path, TEMPLATE_DIRS=["templates"], MIDDLEWARES=[UsesRenderer])
    renderer = app.configured_middleware[0].instance.renderer
    assert renderer.render("hello.html", name="<b>x</b>") == "<p>Hello &lt;b&gt;x&lt;/b&gt;</p>"
    response = renderer.render_response("hello.html", status=201, name="y")
    assert (response.status_code, response.mimetype) == (201, "text/html")
    with pytest.raises(Exception, match=r"Template 'absent\.html' not found; searched"):
        renderer.render("absent.html")


def test_dependencies_setting_builds_factories_lazily_with_injection(
    app_factory: Callable[..., App],
) -> None:
    sample_dependencies.calls.clear()
    app = app_factory(
        GREETING="hi",
        DEPENDENCIES={
            "greeter": "tests.sample_dependencies.make_greeter",
            "table": "tests.sample_dependencies.GREETING_TABLE",
        },
    )
    assert sample_dependencies.calls == []
    app = app_factory(
        GREETING="hi",
        MIDDLEWARES=[UsesGreeter, UsesGreeter],
        DEPENDENCIES={
            "greeter": "tests.sample_dependencies.make_greeter",
            "table": "tests.sample_dependencies.GREETING_TABLE",
        },
    )
    first, second = (layer.instance for layer in app.configured_middleware)
    assert first.greeter("ada") == "hi ada"
    assert first.greeter is second.greeter
    assert sample_dependencies.calls == ["make_greeter"]  # built once, shared
    assert first.table == {"en": "hello"}


def test_dependencies_setting_with_bad_path_names_it() -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        make_app(DEPENDENCIES={"greeter": "tests.sample_dependencies.make_greter"})
    assert str(info.value).startswith(
        "DEPENDENCIES['greeter'] ('tests.sample_dependencies.make_greter'):"
    )
    assert "Did you mean 'make_greeter'?" in str(info.value)


def test_create_app_dependencies_reach_middleware_constructors() -> None:
    def greeter(name: str) -> str:
        return f"hey {name}"

    app = make_app(MIDDLEWARES=[UsesGreeter], dependencies={"greeter": greeter, "table": {}})
    assert app.configured_middleware[0].instance.greeter is greeter  # a function stays a value


def test_app_provide_value_and_factory(app_factory: Callable[..., App]) -> None:
    app = app_factory()
    built: list[int] = []
    app.provide("answer", 42)

    def expensive(config: Settings) -> str:
        built.append(1)
        return config.SECRET_KEY

    app.provide("expensive", factory=expensive)
    assert built == []
    assert app.dependencies["answer"] == 42
    assert app.dependencies["expensive"] == app.settings.SECRET_KEY
    assert app.dependencies["expensive"] == app.settings.SECRET_KEY
    assert built == [1]


def test_views_reach_dependencies_through_the_request(app_factory: Callable[..., App]) -> None:
    app = app_factory()
    app.provide("motd", "be kind")
    app.route("/")(lambda request: request.app.dependencies["motd"])
    assert app.test_client().get("/").text == "be kind"


def test_unknown_dependency_lists_known_names() -> None:
    registry = Dependencies()
    registry.provide("config", object())
    registry.provide("db_session", factory=object)
    with pytest.raises(ImproperlyConfigured) as info:
        registry["db_sesion"]
    assert str(info.value) == (
        "Unknown dependency 'db_sesion'. Did you mean 'db_session'? "
        "Known dependencies: config, db_session."
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        pytest.param(("not valid",), {"value": 1}, ImproperlyConfigured, id="bad name"),
        pytest.param(("name",), {}, TypeError, id="neither value nor factory"),
        pytest.param(("name", 1), {"factory": int}, TypeError, id="both"),
    ],
)
def test_provide_refuses_bad_calls(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        Dependencies().provide(*args, **kwargs)


def test_registration_after_the_first_request_is_refused(app_factory: Callable[..., App]) -> None:
    app = app_factory()
    app.route("/")(lambda request: "ok")
    app.test_client().get("/")
    with pytest.raises(RuntimeError, match=r"app\.route\(\) was called after the app started"):
        app.route("/late")
    with pytest.raises(RuntimeError, match=r"app\.use\(\)"):
        app.use(lambda request, call_next: call_next(request))
    with pytest.raises(RuntimeError, match=r"app\.provide\(\)"):
        app.provide("late", 1)


def test_dependencies_setting_instantiates_classes(app_factory: Callable[..., App]) -> None:
    app = app_factory(DEBUG=True, DEPENDENCIES={"clock": "tests.sample_dependencies.Clock"})
    clock = app.dependencies["clock"]
    assert isinstance(clock, sample_dependencies.Clock)
    assert clock.debug is True
    assert app.dependencies["clock"] is clock


def test_failing_factory_names_the_dependency(app_factory: Callable[..., App]) -> None:
    app = app_factory()

    def broken_cache() -> None:
        raise ConnectionError("cache server unreachable")

    app.provide("cache", factory=broken_cache)
    with pytest.raises(ImproperlyConfigured) as info:
        app.dependencies["cache"]
    assert str(info.value) == (
        "Building dependency 'cache' failed: tests.test_injection."
        "test_failing_factory_names_the_dependency.<locals>.broken_cache raised "
        "ConnectionError: cache server unreachable"
    )


def test_close_leaves_a_project_provided_db_session_factory_alone() -> None:
    calls: list[str] = []

    def open_session() -> str:
        calls.append("opened")
        return "session"

    app = make_app(dependencies={"db_session": open_session})
    assert app.dependencies["db_session"] is open_session
    app.close()  # a plain function has no engine to dispose: no AttributeError
    assert calls == []


def test_a_function_named_as_a_factory_gets_a_hint(app_factory: Callable[..., App]) -> None:
    app = app_factory(DEPENDENCIES={"user_loader": "tests.sample_dependencies.load_user"})
    with pytest.raises(ImproperlyConfigured) as info:
        app.dependencies["user_loader"]
    message = str(info.value)
    assert "required parameter 'user_id' has no value" in message
    assert "tests.sample_dependencies.load_user is registered as a factory" in message
    assert "app.provide('user_loader', value=load_user)" in message


def test_params_errors_say_where_in_the_value(app_factory: Callable[..., App]) -> None:
    class Hosts(BaseMiddleware):
        def __init__(self, hosts: list[str]) -> None:
            self.hosts = hosts

        def process_request(self, request: Request) -> None:
            return None

    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(MIDDLEWARES=[{"class": Hosts, "params": {"hosts": ["a", 3]}}])
    assert "parameter 'hosts' expects list[str], got ['a', 3]: at [1]: Input should be" in str(
        info.value
    )


def test_annotations_pydantic_refuses_pass_values_through(
    app_factory: Callable[..., App],
) -> None:
    from typing import TypedDict  # pydantic refuses typing.TypedDict on Python < 3.12

    class Rule(TypedDict):
        path: str

    class Rules(BaseMiddleware):
        def __init__(self, rules: list[Rule]) -> None:
            self.rules = rules

        def process_request(self, request: Request) -> None:
            return None

    rules = [{"path": "/x"}]
    app = app_factory(MIDDLEWARES=[{"class": Rules, "params": {"rules": rules}}])
    assert app.configured_middleware[0].instance.rules is rules
