"""The loader's error matrix: every bad entry gets a message naming entry, path and reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lback_mw import App, BaseMiddleware, ImproperlyConfigured
from lback_mw.loader import classify
from lback_mw.testing import make_app
from tests import sample_middlewares
from tests.sample_middlewares import (
    ConfigMiddleware,
    HeaderMiddleware,
    KwargsMiddleware,
    LimitMiddleware,
    OwnKwargsMiddleware,
    PlainHooks,
)

SAMPLES = "tests.sample_middlewares"


def _error(entry: Any, position: int = 0) -> str:
    entries: list[Any] = [f"{SAMPLES}.KwargsMiddleware"] * position + [entry]
    with pytest.raises(ImproperlyConfigured) as info:
        make_app(MIDDLEWARES=entries)
    return str(info.value)


def _assert_explained(entry: Any, fragments: list[str]) -> None:
    """The entry's error names its position and its dotted path, and says each fragment."""
    message = _error(entry, position=2)
    path = entry.get("class", "") if isinstance(entry, dict) else entry
    assert message.startswith("MIDDLEWARES[2]")
    if isinstance(path, str) and "." in path:
        assert repr(path) in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("entry", "fragments"),
    [
        pytest.param(
            "tests.sample_middlewarez.HeaderMiddleware",
            [
                "no attribute or submodule 'sample_middlewarez'",
                "Did you mean 'sample_middlewares'?",
            ],
            id="misspelt module",
        ),
        pytest.param(
            "tsets.sample_middlewares.HeaderMiddleware",
            ["no module named 'tsets'", "Did you mean 'tests'?"],
            id="misspelt top-level package",
        ),
        pytest.param(
            f"{SAMPLES}.HeaderMiddlware",
            [
                f"module '{SAMPLES}' has no attribute 'HeaderMiddlware'",
                "Did you mean 'HeaderMiddleware'?",
            ],
            id="misspelt class",
        ),
        pytest.param(
            f"{SAMPLES}.not_a_class",
            ["resolves to the function 'not_a_class', not a class", "@app.middleware"],
            id="function instead of class",
        ),
        pytest.param(
            f"{SAMPLES}.INSTANCE",
            ["resolves to a PlainHooks instance, not a class"],
            id="instance instead of class",
        ),
        pytest.param("tests", ["is not a dotted path"], id="no dot"),
        pytest.param(
            "tests.sample_middlewares",
            ["resolves to a module, not a class"],
            id="module instead of class",
        ),
        pytest.param(42, ["expected a dotted path string", "got int 42"], id="wrong entry type"),
        pytest.param(
            {"params": {}}, ["a middleware dict needs a 'class' key"], id="dict without class"
        ),
    ],
)
def test_an_entry_that_names_no_class_is_explained(entry: Any, fragments: list[str]) -> None:
    _assert_explained(entry, fragments)


@pytest.mark.parametrize(
    ("name", "fragments"),
    [
        pytest.param(
            "HeaderMiddleware",
            ["required parameter 'header' has no value", "Known dependencies: app, config"],
            id="missing required parameter",
        ),
        pytest.param(
            "NeedsDbMiddleware",
            [
                "required parameter 'db_sesion' has no value",
                "Did you mean 'db_session'?",
                "Known dependencies: app, config, db_session, logger, router, settings, "
                "template_renderer.",
            ],
            id="unknown dependency lists the names that exist",
        ),
        pytest.param(
            "NoHooks",
            ["NoHooks implements no middleware hook", "process_request"],
            id="class without hooks",
        ),
        pytest.param(
            "AsyncHook",
            ["AsyncHook.process_request is defined with 'async def'", "WSGI core"],
            id="coroutine hook",
        ),
        pytest.param(
            "BothStyles",
            ["defines both process_* hooks (process_request) and dispatch"],
            id="two styles at once",
        ),
        pytest.param(
            "WsgiWrapper", ["is a WSGI middleware", "WSGI_MIDDLEWARES"], id="WSGI wrapper"
        ),
    ],
)
def test_a_class_the_loader_cannot_build_or_drive_is_explained(
    name: str, fragments: list[str]
) -> None:
    _assert_explained(f"{SAMPLES}.{name}", fragments)


@pytest.mark.parametrize(
    ("name", "params", "fragments"),
    [
        pytest.param(
            "HeaderMiddleware",
            {"header": "X", "valeu": "1"},
            [
                "unknown parameter 'valeu' in params",
                "Did you mean 'value'?",
                "The constructor accepts: header, value.",
            ],
            id="unknown parameter with suggestion",
        ),
        pytest.param(
            "LimitMiddleware",
            {"max_requests": "lots"},
            ["parameter 'max_requests' expects int, got 'lots'", "valid integer"],
            id="uncoercible value",
        ),
        pytest.param(
            "LimitMiddleware",
            {"max_requests": 1, "paths": "/api"},
            ["parameter 'paths' expects", "got '/api'"],
            id="string where a list is expected",
        ),
        pytest.param(
            "SelfCheckingMiddleware",
            {"mode": "bad"},
            ["mode 'bad' is not supported; use 'ok'"],
            id="middleware's own ImproperlyConfigured",
        ),
        pytest.param(
            "SelfCheckingMiddleware",
            {"mode": "crash"},
            ["its constructor raised ValueError: boom while building"],
            id="constructor crash",
        ),
    ],
)
def test_params_the_constructor_refuses_are_explained(
    name: str, params: dict[str, Any], fragments: list[str]
) -> None:
    _assert_explained({"class": f"{SAMPLES}.{name}", "params": params}, fragments)


@pytest.mark.parametrize(
    ("keys", "fragments"),
    [
        pytest.param(
            {"param": {"header": "X"}},
            ["unknown key 'param' in a middleware dict", "Did you mean 'params'?"],
            id="misspelt params key",
        ),
        pytest.param(
            {"params": ["X"]},
            ["'params' must be a mapping", "got list ['X']"],
            id="params not a mapping",
        ),
        pytest.param(
            {"path": ["/api/*"]},
            ["unknown key 'path' in a middleware dict", "Did you mean 'paths'?"],
            id="misspelt paths key",
        ),
        pytest.param(
            {"paths": "/api/*"},
            ["paths must be a list of path patterns, like ['/api/*']"],
            id="paths not a list",
        ),
        pytest.param(
            {"paths": ["/api*"]},
            ["paths[0]: '/api*' has a '*' that is not a trailing '/*'", "Did you mean '/api/*'?"],
            id="paths pattern with a bad star",
        ),
        pytest.param(
            {"exclude_paths": ["health"]},
            ["exclude_paths[0]: 'health' is not a path pattern"],
            id="exclude_paths relative",
        ),
        pytest.param(
            {"paths": []},
            ["'paths' is empty, so the middleware would never run"],
            id="paths empty",
        ),
    ],
)
def test_a_dict_entry_with_bad_keys_is_explained(
    keys: dict[str, Any], fragments: list[str]
) -> None:
    _assert_explained({"class": f"{SAMPLES}.HeaderMiddleware", **keys}, fragments)


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        pytest.param(
            "import not_installed_package_xyz\n",
            ["importing module 'failing_mw' failed", "not_installed_package_xyz"],
            id="module with a missing import",
        ),
        pytest.param(
            "raise RuntimeError('bad module state')\n",
            ["RuntimeError: bad module state"],
            id="module raising while imported",
        ),
    ],
)
def test_a_module_that_fails_to_import_is_explained(
    source: str, fragments: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "failing_mw.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    message = _error("failing_mw.Thing")
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({"max_requests": "100"}, (100, 1.0, [], True), id="str to int"),
        pytest.param(
            {"max_requests": 5, "ratio": "0.5", "enabled": "false"},
            (5, 0.5, [], False),
            id="str to float and bool",
        ),
        pytest.param(
            {"max_requests": 1, "paths": ("/a", "/b")},
            (1, 1.0, ["/a", "/b"], True),
            id="tuple to list",
        ),
    ],
)
def test_params_are_coerced_against_annotations(
    params: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    app = make_app(MIDDLEWARES=[{"class": f"{SAMPLES}.LimitMiddleware", "params": params}])
    instance = app.configured_middleware[0].instance
    assert isinstance(instance, LimitMiddleware)
    assert (instance.max_requests, instance.ratio, instance.paths, instance.enabled) == expected


def test_every_entry_form_loads(app_factory: Callable[..., App]) -> None:
    app = app_factory(
        MIDDLEWARES=[
            f"{SAMPLES}.KwargsMiddleware",
            {"class": f"{SAMPLES}.HeaderMiddleware", "params": {"header": "X-One"}},
            {"class": HeaderMiddleware, "params": {"header": "X-Two", "value": "2"}},
            PlainHooks,
        ]
    )
    layers = app.configured_middleware
    assert [layer.label for layer in layers] == [f"MIDDLEWARES[{i}]" for i in range(4)]
    assert [layer.path for layer in layers] == [
        f"{SAMPLES}.KwargsMiddleware",
        f"{SAMPLES}.HeaderMiddleware",
        f"{SAMPLES}.HeaderMiddleware",
        f"{SAMPLES}.PlainHooks",
    ]
    assert [layer.hooks for layer in layers] == [
        ("process_request",),
        ("process_response",),
        ("process_response",),
        ("process_response",),
    ]
    app.route("/")(lambda request: "ok")
    response = app.test_client().get("/")
    assert (response.headers["X-One"], response.headers["X-Two"]) == ("on", "2")
    assert response.headers["X-Plain"] == "1"


def test_params_without_init_set_declared_attributes() -> None:
    params = {"greeting": "hi", "audience": "all"}
    app = make_app(MIDDLEWARES=[{"class": KwargsMiddleware, "params": params}])
    layer = app.configured_middleware[0]
    assert (layer.instance.greeting, layer.instance.audience) == ("hi", "all")
    assert layer.params == params


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        pytest.param("greting", " Did you mean 'greeting'?", id="typo"),
        pytest.param("colour", "", id="not declared"),
    ],
)
def test_params_without_init_refuse_undeclared_keys(key: str, suggestion: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        make_app(MIDDLEWARES=[{"class": KwargsMiddleware, "params": {key: "x"}}])
    assert str(info.value).startswith(
        f"MIDDLEWARES[0] ('{SAMPLES}.KwargsMiddleware'): unknown parameter {key!r} in "
        f"params.{suggestion} KwargsMiddleware has no __init__ of its own, so params may "
        "only set the attributes it declares: greeting, audience."
    )


def test_own_var_kwargs_still_take_any_key() -> None:
    app = make_app(MIDDLEWARES=[{"class": OwnKwargsMiddleware, "params": {"anything": 1}}])
    assert app.configured_middleware[0].instance.anything == 1


def test_dependencies_are_injected_by_name_and_recorded() -> None:
    app = make_app(MIDDLEWARES=[ConfigMiddleware])
    layer = app.configured_middleware[0]
    instance = layer.instance
    assert isinstance(instance, ConfigMiddleware)
    assert instance.config is app.settings
    assert instance.router is app.router
    assert instance.app is app
    assert instance.logger.name == "tests.sample_middlewares"
    assert layer.injected == ["config", "router", "logger", "app"]
    assert layer.overridden == []


def test_params_win_over_a_dependency_of_the_same_name() -> None:
    sentinel = object()
    app = make_app(MIDDLEWARES=[{"class": ConfigMiddleware, "params": {"router": sentinel}}])
    layer = app.configured_middleware[0]
    assert layer.instance.router is sentinel
    assert layer.overridden == ["router"]
    assert "router" not in layer.injected


def test_wsgi_middlewares_wrap_the_whole_app(app_factory: Callable[..., App]) -> None:
    app = app_factory(
        WSGI_MIDDLEWARES=[
            {"class": "werkzeug.middleware.proxy_fix.ProxyFix", "params": {"x_for": "1"}},
            {"class": f"{SAMPLES}.WsgiWrapper", "params": {"header": "X-Outer"}},
        ]
    )
    app.route("/ip")(lambda request: request.remote_addr or "")
    response = app.test_client().get(
        "/ip", headers={"X-Forwarded-For": "203.0.113.7"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}
    )
    assert response.text == "203.0.113.7"
    assert response.headers["X-Outer"] == "yes"
    assert [layer.label for layer in app.wsgi_middleware] == [
        "WSGI_MIDDLEWARES[0]",
        "WSGI_MIDDLEWARES[1]",
    ]
    assert app.wsgi_middleware[0].params == {"x_for": 1}  # coerced from "1"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        pytest.param(
            {"params": {"x_fro": 1}},
            "unknown parameter 'x_fro' in params. Did you mean 'x_for'?",
            id="misspelt parameter",
        ),
        pytest.param(
            {"paths": ["/api/*"]},
            "paths and exclude_paths apply to MIDDLEWARES entries",
            id="paths",
        ),
    ],
)
def test_wsgi_middleware_errors_name_the_entry(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        make_app(WSGI_MIDDLEWARES=[{"class": "werkzeug.middleware.proxy_fix.ProxyFix", **keys}])
    assert str(info.value).startswith(
        f"WSGI_MIDDLEWARES[0] ('werkzeug.middleware.proxy_fix.ProxyFix'): {message}"
    )


def test_sample_module_is_importable() -> None:
    assert sample_middlewares.__name__ == SAMPLES


def test_app_close_closes_every_middleware_that_can_be_closed() -> None:
    closed: list[str] = []

    class Pool(BaseMiddleware):
        def __init__(self, name: str = "a") -> None:
            self.name = name

        def process_request(self, request: Any) -> None:
            return None

        def close(self) -> None:
            closed.append(self.name)

    class NoClose(BaseMiddleware):
        def process_request(self, request: Any) -> None:
            return None

    app = make_app(
        MIDDLEWARES=[
            {"class": Pool, "params": {"name": "outer"}},
            NoClose,
            {"class": Pool, "params": {"name": "inner"}},
        ]
    )
    assert closed == []
    app.close()
    assert closed == ["outer", "inner"]


class _TakesGetResponseButIsNotCalled:
    """get_response in __init__, but no __call__: not Django's shape."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def process_request(self, request: Any) -> None:
        return None


class _CalledButTakesNoGetResponse:
    """A __call__, but __init__ takes no get_response: a call_next middleware."""

    def __init__(self, name: str = "x") -> None:
        self.name = name

    def __call__(self, request: Any, call_next: Any) -> Any:
        return call_next(request)


@pytest.mark.parametrize(
    ("cls", "shape"),
    [
        (_TakesGetResponseButIsNotCalled, ("hooks", ("process_request",))),
        (_CalledButTakesNoGetResponse, ("call_next", ("__call__",))),
    ],
)
def test_only_the_whole_django_shape_is_driven_as_django(
    cls: type, shape: tuple[str, tuple[str, ...]]
) -> None:
    # Both halves are needed: __init__(self, get_response) and a __call__(request).
    assert classify(cls, "MIDDLEWARES[0]") == shape
