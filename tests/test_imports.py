"""lback_mw._imports: a function or its dotted path, imported with pydantic's ImportString
when the loader checks ``params`` and when a constructor is called from Python, with
errors that name the owner, the parameter and the part of the path that failed."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lback_mw import App, BaseMiddleware, ImproperlyConfigured
from lback_mw.middlewares.auth import AuthenticationMiddleware
from lback_mw.middlewares.ratelimit import RateLimitMiddleware

AUTH = "lback_mw.middlewares.AuthenticationMiddleware"
NOT_A_FUNCTION = "a module-level constant"


def load_user(value: str) -> None:
    """Stands for each of the loaders and key functions: only its identity is checked."""


def _auth_user(value: Any) -> BaseMiddleware:
    return AuthenticationMiddleware(user_loader=value)


def _auth_token(value: Any) -> BaseMiddleware:
    return AuthenticationMiddleware(token_loader=value)


def _rate_limit(value: Any) -> BaseMiddleware:
    return RateLimitMiddleware(limit="1/minute", key_func=value)


BUILDERS = [
    pytest.param(_auth_user, "user_loader", id="user_loader"),
    pytest.param(_auth_token, "token_loader", id="token_loader"),
    pytest.param(_rate_limit, "key_func", id="key_func"),
]


def test_params_import_the_path_before_the_constructor_runs(
    app_factory: Callable[..., App],
) -> None:
    app = app_factory(
        MIDDLEWARES=[{"class": AUTH, "params": {"user_loader": f"{__name__}.load_user"}}]
    )
    [layer] = app.chain
    assert layer.params == {"user_loader": load_user}
    assert isinstance(layer.instance, AuthenticationMiddleware)
    assert layer.instance.user_loader is load_user


@pytest.mark.parametrize(("build", "attribute"), BUILDERS)
@pytest.mark.parametrize(
    "given", [load_user, f"{__name__}.load_user"], ids=["function", "dotted path"]
)
def test_python_construction_takes_the_function_or_its_path(
    build: Callable[[Any], BaseMiddleware], attribute: str, given: Any
) -> None:
    middleware = build(given)
    try:
        assert getattr(middleware, attribute) is load_user
    finally:
        if isinstance(middleware, RateLimitMiddleware):
            middleware.close()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param(
            {"user_loader": f"{__name__}.load_usr"},
            "user_loader 'tests.test_imports.load_usr': module 'tests.test_imports' has no "
            "attribute 'load_usr'. Did you mean 'load_user'?",
            id="attribute typo",
        ),
        pytest.param(
            {"user_loader": "tests.test_imprts.load_user"},
            "user_loader 'tests.test_imprts.load_user': module 'tests' has no attribute or "
            "submodule 'test_imprts'. Did you mean 'test_imports'?",
            id="module typo",
        ),
        pytest.param(
            {"user_loader": f"{__name__}.NOT_A_FUNCTION"},
            "user_loader 'tests.test_imports.NOT_A_FUNCTION' is a str, not a function "
            "user_loader(user_id: str) returning the user or None.",
            id="not a function",
        ),
        pytest.param(
            {"token_loader": 42},
            "token_loader is an int (42), not a function token_loader(token: str) returning "
            "the user or None. If a DEPENDENCIES factory provides it, the factory must "
            "return the function.",
            id="not a path",
        ),
    ],
)
def test_a_bad_path_in_params_is_explained(
    app_factory: Callable[..., App], params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(MIDDLEWARES=[{"class": AUTH, "params": params}])
    assert str(info.value) == f"MIDDLEWARES[0] ({AUTH!r}): {message}"


@pytest.mark.parametrize(
    ("key_func", "message"),
    [
        pytest.param(
            f"{__name__}.load_usr",
            "key_func 'tests.test_imports.load_usr': module 'tests.test_imports' has no "
            "attribute 'load_usr'. Did you mean 'load_user'?",
            id="typo",
        ),
        pytest.param(
            f"{__name__}.NOT_A_FUNCTION",
            "key_func 'tests.test_imports.NOT_A_FUNCTION' is a str, not a function taking "
            "the request and returning a string (or None to not limit it).",
            id="not a function",
        ),
        pytest.param(
            f"{__name__}.NOT_A_FUNCTION.upper",
            "key_func 'tests.test_imports.NOT_A_FUNCTION.upper': "
            "'tests.test_imports.NOT_A_FUNCTION' is a str, not a module, so 'upper' cannot "
            "be imported from it; name a function or class that a module defines.",
            id="a path through a constant",
        ),
        pytest.param(
            ".tests.test_imports.load_user",
            "key_func '.tests.test_imports.load_user': '.tests.test_imports.load_user' has an "
            "empty part: a dotted path is names joined by single dots, like "
            "'package.module.function'.",
            id="an empty part",
        ),
        pytest.param(
            {"a": "dict"},
            "key_func is a dict ({'a': 'dict'}), not a function taking the request and "
            "returning a string (or None to not limit it). If a DEPENDENCIES factory "
            "provides it, the factory must return the function.",
            id="not a path",
        ),
    ],
)
def test_a_bad_value_in_python_is_explained(key_func: Any, message: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        RateLimitMiddleware(limit="1/minute", key_func=key_func)
    assert str(info.value) == f"RateLimitMiddleware: {message}"


@pytest.mark.parametrize(("build", "attribute"), BUILDERS)
def test_a_module_that_raises_while_imported(
    build: Callable[[Any], BaseMiddleware],
    attribute: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "broken_functions.py").write_text("raise RuntimeError('no database yet')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImproperlyConfigured) as info:
        build("broken_functions.load")
    assert str(info.value).endswith(
        f"{attribute} 'broken_functions.load': importing it raised RuntimeError: no database yet"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param(
            "lback_mw.middlewares..SessionMiddleware",
            "'lback_mw.middlewares..SessionMiddleware' has an empty part",
            id="an empty part",
        ),
        pytest.param(
            "lback_mw.auth.ENVIRON_KEY.Middleware",
            "'lback_mw.auth.ENVIRON_KEY' is a str, not a module, so 'Middleware' cannot be "
            "imported from it",
            id="a path through a constant",
        ),
    ],
)
def test_a_middleware_path_through_a_non_module_is_explained(
    app_factory: Callable[..., App], entry: str, message: str
) -> None:
    # Before: "no attribute or submodule 'ENVIRON_KEY'. Did you mean 'ENVIRON_KEY'?",
    # and for the empty part importlib's TypeError or ValueError.
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        app_factory(MIDDLEWARES=[entry])
