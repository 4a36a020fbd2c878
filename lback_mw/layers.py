"""One entry of the resolved chain, as the pipeline runs it and the CLI shows it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Style = Literal["hooks", "call_next", "wsgi"]


@dataclass
class Layer:
    """A middleware after loading: its instance and how it got there."""

    #: Where it was configured: ``"MIDDLEWARES[2]"``, ``"app.use[0]"``, ``"before_request[0]"``.
    label: str
    #: Dotted path of the class or function.
    path: str
    instance: Any
    #: ``hooks`` (process_* methods), ``call_next`` (dispatch) or ``wsgi`` (a WSGI wrapper).
    style: Style
    #: The hooks it implements: process_* names, ``dispatch`` or ``__call__``.
    hooks: tuple[str, ...] = ()
    #: Constructor arguments taken from ``params`` (after validation).
    params: dict[str, Any] = field(default_factory=dict)
    #: Constructor arguments filled from the dependency registry.
    injected: list[str] = field(default_factory=list)
    #: ``params`` keys that also name a dependency; the ``params`` value was used.
    overridden: list[str] = field(default_factory=list)


@dataclass
class SkippedLayer:
    """An entry whose constructor raised :class:`~lback_mw.MiddlewareNotUsed`."""

    label: str
    path: str
    reason: str


#: ``wrapper(layer, hook_name, hook)`` -> the callable the pipeline runs in the
#: hook's place, with the same arguments (see :meth:`lback_mw.App.instrument_hooks`).
HookWrapper = Callable[[Layer, str, Callable[..., Any]], Callable[..., Any]]


class _Instrumented:
    """Stands in for a layer's instance: each hook is its wrapper's callable, and
    calling it (a ``call_next`` function's hook, ``__call__``) calls the wrapped one."""

    _call: Callable[..., Any]

    def __call__(self, *args: Any) -> Any:
        return self._call(*args)


def instrumented(layer: Layer, wrapper: HookWrapper) -> Layer:
    """``layer`` with every hook run through ``wrapper``; done once, at start-up."""
    stand_in = _Instrumented()
    for name in layer.hooks:
        if name == "__call__":
            stand_in._call = wrapper(layer, name, layer.instance)
        else:
            setattr(stand_in, name, wrapper(layer, name, getattr(layer.instance, name)))
    return replace(layer, instance=stand_in)
