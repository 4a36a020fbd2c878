"""Loader errors the matrix in test_loader.py leaves out: WSGI constructors that raise,
call_next classes with the wrong shape, and modules that raise ImportError themselves."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.wrappers import Response as WerkzeugResponse

from lback_mw import ImproperlyConfigured, MiddlewareNotUsed, Request
from lback_mw.loader import check_call_next_signature
from lback_mw.middlewares.base import CallNext
from lback_mw.testing import make_app


class CrashingWsgi:
    """A WSGI middleware whose constructor fails."""

    def __init__(self, app: Any, limit: int = 1) -> None:
        raise ValueError(f"limit {limit} is too low")


class TwoArgsDispatch:
    def dispatch(self, request: Request) -> WerkzeugResponse:
        raise AssertionError("never called")


class ThreeArgsDispatch:
    def dispatch(self, request: Request, call_next: CallNext, extra: int) -> WerkzeugResponse:
        raise AssertionError("never called")


class AsyncDispatch:
    async def dispatch(self, request: Request, call_next: CallNext) -> WerkzeugResponse:
        return call_next(request)


class AsyncGenDispatch:
    async def dispatch(self, request: Request, call_next: CallNext) -> Any:
        yield call_next(request)


class CallableWrongArity:
    def __call__(self, request: Request) -> WerkzeugResponse:
        raise AssertionError("never called")


class KeywordOnlyDispatch:
    """Keyword-only parameters are not positional: this takes one positional argument."""

    def dispatch(self, request: Request, *, call_next: CallNext) -> WerkzeugResponse:
        return call_next(request)


def test_a_wsgi_middleware_whose_constructor_raises_is_refused_naming_it() -> None:
    entry = {"class": f"{__name__}.CrashingWsgi", "params": {"limit": 0}}
    with pytest.raises(ImproperlyConfigured) as info:
        make_app(WSGI_MIDDLEWARES=["werkzeug.middleware.proxy_fix.ProxyFix", entry])
    assert str(info.value) == (
        f"WSGI_MIDDLEWARES[1] ({__name__ + '.CrashingWsgi'!r}): its constructor raised "
        "ValueError: limit 0 is too low"
    )
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param(
            "TwoArgsDispatch",
            "TwoArgsDispatch.dispatch must take (request, call_next), got (request)",
            id="too few",
        ),
        pytest.param(
            "ThreeArgsDispatch",
            "ThreeArgsDispatch.dispatch must take (request, call_next), got "
            "(request, call_next, extra)",
            id="too many",
        ),
        pytest.param(
            "KeywordOnlyDispatch",
            "KeywordOnlyDispatch.dispatch must take (request, call_next), got (request)",
            id="keyword-only",
        ),
        pytest.param(
            "CallableWrongArity",
            "CallableWrongArity.__call__ must take (request, call_next), got (request)",
            id="__call__",
        ),
        pytest.param(
            "AsyncDispatch", "AsyncDispatch.dispatch is defined with 'async def'", id="async"
        ),
        pytest.param(
            "AsyncGenDispatch",
            "AsyncGenDispatch.dispatch is defined with 'async def'",
            id="async generator",
        ),
    ],
)
def test_a_call_next_class_of_the_wrong_shape_is_refused_through_middlewares(
    name: str, message: str
) -> None:
    path = f"{__name__}.{name}"
    with pytest.raises(ImproperlyConfigured) as info:
        make_app(MIDDLEWARES=["tests.sample_middlewares.KwargsMiddleware", path])
    assert str(info.value).startswith(f"MIDDLEWARES[1] ({path!r}): {message}")


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for throwaway modules, forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def _error(entry: str | dict[str, Any]) -> str:
    with pytest.raises(ImproperlyConfigured) as info:
        make_app(MIDDLEWARES=[entry])
    return str(info.value)


def test_a_module_raising_import_error_itself_is_named_with_the_error(module_dir: Path) -> None:
    (module_dir / "needs_lib_mw.py").write_text("raise ImportError('needs libfoo 2.0')\n")
    assert _error("needs_lib_mw.Thing") == (
        "MIDDLEWARES[0] ('needs_lib_mw.Thing'): importing module 'needs_lib_mw' failed: "
        "ImportError: needs libfoo 2.0"
    )


def test_a_submodule_raising_import_error_names_the_submodule(module_dir: Path) -> None:
    package = module_dir / "pkg_mw"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text("from pkg_mw import no_such_name\n")
    message = _error("pkg_mw.broken.Thing")
    assert message.startswith(
        "MIDDLEWARES[0] ('pkg_mw.broken.Thing'): importing module 'pkg_mw.broken' failed: "
        "ImportError: cannot import name 'no_such_name'"
    )


def test_a_missing_dependency_of_a_module_is_named(module_dir: Path) -> None:
    (module_dir / "uses_missing_mw.py").write_text("import not_installed_package_xyz\n")
    message = _error("uses_missing_mw.Thing")
    assert re.fullmatch(
        r"MIDDLEWARES\[0\] \('uses_missing_mw.Thing'\): importing module 'uses_missing_mw' "
        r"failed: No module named 'not_installed_package_xyz'",
        message,
    )


def test_a_missing_top_level_module_suggests_a_close_name(module_dir: Path) -> None:
    (module_dir / "my_middlewares.py").write_text("class Thing: pass\n")
    message = _error("my_middlewarez.Thing")
    assert "no module named 'my_middlewarez'. Did you mean 'my_middlewares'?" in message


class SilentlyNotUsed:
    def __init__(self) -> None:
        raise MiddlewareNotUsed

    def process_request(self, request: Request) -> None:
        return None


def test_middleware_not_used_is_recorded_with_its_reason_or_a_default() -> None:
    app = make_app(
        MIDDLEWARES=[
            "tests.sample_middlewares.KwargsMiddleware",
            "tests.sample_middlewares.NotUsed",
            f"{__name__}.SilentlyNotUsed",
        ]
    )
    assert [(s.label, s.path, s.reason) for s in app.skipped_middleware] == [
        ("MIDDLEWARES[1]", "tests.sample_middlewares.NotUsed", "feature flag off"),
        ("MIDDLEWARES[2]", f"{__name__}.SilentlyNotUsed", "raised MiddlewareNotUsed"),
    ]
    assert [layer.label for layer in app.configured_middleware] == ["MIDDLEWARES[0]"]


def test_three_wsgi_middlewares_are_listed_in_settings_order() -> None:
    wrapper = "tests.sample_middlewares.WsgiWrapper"
    app = make_app(
        WSGI_MIDDLEWARES=[
            {"class": wrapper, "params": {"header": f"X-{n}"}} for n in ("A", "B", "C")
        ]
    )
    layers = app.wsgi_middleware
    assert [layer.label for layer in layers] == [f"WSGI_MIDDLEWARES[{n}]" for n in range(3)]
    assert [layer.params for layer in layers] == [{"header": f"X-{n}"} for n in "ABC"]


def test_the_first_unknown_key_of_an_entry_is_named() -> None:
    entry = {"class": "tests.sample_middlewares.KwargsMiddleware", "parms": {}, "zzz": 1}
    message = _error(entry)
    assert "unknown key 'parms' in a middleware dict. Did you mean 'params'?" in message


class GoodDispatch:
    def dispatch(self, request: Request, call_next: CallNext) -> WerkzeugResponse:
        return call_next(request)


class GoodCall:
    def __call__(self, request: Request, call_next: CallNext) -> WerkzeugResponse:
        return call_next(request)


class WsgiWithExtra:
    """Called like a WSGI app, with an optional third argument."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: Any, start_response: Any, extra: Any = None) -> Any:
        return self.app(environ, start_response)


def test_call_next_classes_load_through_middlewares() -> None:
    app = make_app(MIDDLEWARES=[f"{__name__}.GoodDispatch", f"{__name__}.GoodCall"])
    assert [(layer.style, layer.hooks) for layer in app.configured_middleware] == [
        ("call_next", ("dispatch",)),
        ("call_next", ("__call__",)),
    ]


def test_a_call_next_function_is_checked_without_a_self_parameter() -> None:
    def good(request: Request, call_next: CallNext) -> WerkzeugResponse:
        return call_next(request)

    def bad(call_next: CallNext) -> WerkzeugResponse:
        raise AssertionError("never called")

    check_call_next_signature(good, "good", "app.middleware")
    with pytest.raises(ImproperlyConfigured) as info:
        check_call_next_signature(bad, "bad", "app.middleware")
    assert str(info.value).startswith(
        "app.middleware: bad must take (request, call_next), got (call_next)."
    )


def test_a_wsgi_middleware_with_an_optional_argument_is_sent_to_wsgi_middlewares() -> None:
    message = _error(f"{__name__}.WsgiWithExtra")
    assert "is a WSGI middleware" in message
    assert "List it in WSGI_MIDDLEWARES instead" in message
