"""Params checked against constructor annotations: values inside containers, a
project's own classes, and parameters that cannot be filled by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypedDict

import pytest

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request
from lback_mw.injection import Dependencies, bind_arguments


class Widget:
    """A project's own class: pydantic has no schema for it."""


class Hook(BaseMiddleware):
    def process_request(self, request: Request) -> None:
        return None


class Containers(Hook):
    def __init__(
        self, ports: list[int] | None = None, limits: dict[str, float] | None = None
    ) -> None:
        self.ports = ports
        self.limits = limits


class UsesWidget(Hook):
    def __init__(self, widget: Widget) -> None:
        self.widget = widget


class PositionalOnly(Hook):
    def __init__(self, name: str, /) -> None:
        self.name = name


class PositionalOnlyWithDefault(Hook):
    def __init__(self, name: str = "default", /, *, level: int = 1) -> None:
        self.name, self.level = name, level


def _instance(app_factory: Callable[..., App], cls: type, **params: Any) -> Any:
    app = app_factory(MIDDLEWARES=[{"class": cls, "params": params}])
    return app.configured_middleware[0].instance


def _refusal(app_factory: Callable[..., App], cls: type, **params: Any) -> str:
    with pytest.raises(ImproperlyConfigured) as info:
        app_factory(MIDDLEWARES=[{"class": cls, "params": params}])
    return str(info.value)


def test_values_inside_containers_are_converted(app_factory: Callable[..., App]) -> None:
    instance = _instance(app_factory, Containers, ports=["1", 2], limits={"a": "0.5"})
    assert instance.ports == [1, 2]
    assert instance.limits == {"a": 0.5}


def test_containers_that_need_no_conversion_are_passed_as_given(
    app_factory: Callable[..., App],
) -> None:
    ports, limits = [1, 2], {"a": 0.5}
    instance = _instance(app_factory, Containers, ports=ports, limits=limits)
    assert instance.ports is ports
    assert instance.limits is limits


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        pytest.param(
            {"ports": ["1", "x"]},
            "parameter 'ports' expects list[int] | None, got ['1', 'x']: at [1]: Input should be",
            id="list item",
        ),
        pytest.param(
            {"limits": {"a": "fast"}},
            "parameter 'limits' expects dict[str, float] | None, got {'a': 'fast'}: at a: "
            "Input should be",
            id="dict value",
        ),
    ],
)
def test_a_bad_value_inside_a_container_is_refused_saying_where(
    app_factory: Callable[..., App], params: dict[str, Any], fragment: str
) -> None:
    message = _refusal(app_factory, Containers, **params)
    assert message.startswith("MIDDLEWARES[0] ('tests.test_injection_params.Containers'): ")
    assert fragment in message


def test_a_project_class_accepts_its_instances(app_factory: Callable[..., App]) -> None:
    widget = Widget()
    assert _instance(app_factory, UsesWidget, widget=widget).widget is widget


def test_a_project_class_refuses_other_values(app_factory: Callable[..., App]) -> None:
    message = _refusal(app_factory, UsesWidget, widget="a widget")
    assert "parameter 'widget' expects Widget, got 'a widget'" in message


def test_a_required_positional_only_parameter_is_refused(app_factory: Callable[..., App]) -> None:
    message = _refusal(app_factory, PositionalOnly)
    assert message == (
        "MIDDLEWARES[0] ('tests.test_injection_params.PositionalOnly'): parameter 'name' is "
        "positional-only, so it cannot be filled by name from params or the dependency registry."
    )


def test_a_positional_only_parameter_with_a_default_keeps_it(
    app_factory: Callable[..., App],
) -> None:
    instance = _instance(app_factory, PositionalOnlyWithDefault, level="3")
    assert (instance.name, instance.level) == ("default", 3)
    message = _refusal(app_factory, PositionalOnlyWithDefault, name="x")
    assert "unknown parameter 'name' in params" in message
    assert "The constructor accepts: level." in message


class Unannotated(Hook):
    def __init__(self, anything=None) -> None:
        self.anything = anything


class RealAnnotations(Hook):
    def __init__(self, n=0) -> None:
        self.n = n


# Annotations as objects, as a module without `from __future__ import annotations` has them.
RealAnnotations.__init__.__annotations__ = {"n": int}


class UnreadableSignature(Hook):
    __signature__ = 42  # inspect.signature refuses this


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        pytest.param(("name",), {}, "got neither.", id="neither"),
        pytest.param(("name", 1), {"factory": int}, "got both.", id="both"),
    ],
)
def test_provide_says_which_mistake(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError) as info:
        Dependencies().provide(*args, **kwargs)
    assert str(info.value) == (
        f"provide('name', ...) takes exactly one of a value or factory=, {message}"
    )


def test_the_logger_is_named_after_the_asking_class(app_factory: Callable[..., App]) -> None:
    registry = app_factory().dependencies
    assert registry.resolve("logger", UsesWidget).name == "tests.test_injection_params"
    assert registry.resolve("logger", None).name == "lback_mw"


def test_values_lists_only_what_was_built(app_factory: Callable[..., App], tmp_path) -> None:
    registry = app_factory(BASE_DIR=tmp_path).dependencies
    assert "db_session" not in registry.values()
    factory = registry["db_session"]
    assert registry.values()["db_session"] is factory


def test_an_unannotated_parameter_takes_any_value(app_factory: Callable[..., App]) -> None:
    value = object()
    assert _instance(app_factory, Unannotated, anything=value).anything is value


def test_annotations_that_are_objects_are_validated(app_factory: Callable[..., App]) -> None:
    assert _instance(app_factory, RealAnnotations, n="3").n == 3
    assert "parameter 'n' expects int" in _refusal(app_factory, RealAnnotations, n="x")


def test_an_unreadable_signature_is_refused_naming_the_entry(
    app_factory: Callable[..., App],
) -> None:
    message = _refusal(app_factory, UnreadableSignature)
    assert message.startswith(
        "MIDDLEWARES[0] ('tests.test_injection_params.UnreadableSignature'): cannot read the "
        "constructor signature (TypeError: "
    )


def test_the_first_unknown_parameter_is_named(app_factory: Callable[..., App]) -> None:
    message = _refusal(app_factory, Containers, portz=[1], limitz={})
    assert "unknown parameter 'portz' in params. Did you mean 'ports'?" in message


def test_bound_arguments_record_injected_and_overridden_names(
    app_factory: Callable[..., App],
) -> None:
    registry = app_factory().dependencies

    def factory(config: Any, router: Any, limit: int = 1) -> None:
        raise AssertionError("never called")

    bound = bind_arguments(factory, {"router": "mine", "limit": "2"}, registry, "f", owner=None)
    assert bound.kwargs == {"config": registry["config"], "router": "mine", "limit": 2}
    assert bound.injected == ["config"]
    assert bound.overridden == ["router"]
    assert bound.params == {"router": "mine", "limit": 2}


def test_skip_first_leaves_the_wrapped_app_to_the_caller(
    app_factory: Callable[..., App],
) -> None:
    registry = app_factory().dependencies

    def wrapper(app: Any, limit: int = 1, name: str = "w") -> None:
        raise AssertionError("never called")

    bound = bind_arguments(wrapper, {"limit": "2"}, registry, "w", owner=None, skip_first=True)
    assert bound.kwargs == {"limit": 2}
    with pytest.raises(ImproperlyConfigured, match="unknown parameter 'app'"):
        bind_arguments(wrapper, {"app": 1}, registry, "w", owner=None, skip_first=True)


class Rule(TypedDict):
    """pydantic refuses typing.TypedDict before Python 3.12."""

    path: str


class Rules(Hook):
    def __init__(self, rules: list[Rule]) -> None:
        self.rules = rules


def test_an_annotation_pydantic_refuses_passes_the_value_through(
    app_factory: Callable[..., App],
) -> None:
    rules = [{"path": "/x"}]
    assert _instance(app_factory, Rules, rules=rules).rules is rules
