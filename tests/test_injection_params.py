"""Params checked against constructor annotations: values inside containers, a
project's own classes, and parameters that cannot be filled by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lback_mw import App, BaseMiddleware, ImproperlyConfigured, Request


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
