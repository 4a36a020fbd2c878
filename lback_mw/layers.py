"""One entry of the resolved chain, as the pipeline runs it and the CLI shows it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from werkzeug.wrappers import Response as WerkzeugResponse

    from .paths import PathScope
    from .wrappers import Request

#: ``hooks`` (process_* methods), ``call_next`` (``dispatch(request, call_next)``),
#: ``django`` (``__init__(get_response)`` and ``__call__(request)``) or ``wsgi``.
Style = Literal["hooks", "call_next", "django", "wsgi"]


@dataclass
class Layer:
    """A middleware after loading: its instance and how it got there."""

    #: Where it was configured: ``"MIDDLEWARES[2]"``, ``"app.use[0]"``, ``"before_request[0]"``.
    label: str
    #: Dotted path of the class or function.
    path: str
    instance: Any
    style: Style
    #: The hooks it implements: process_* names, ``dispatch`` or ``__call__``.
    hooks: tuple[str, ...] = ()
    #: Constructor arguments taken from ``params`` (after validation).
    params: dict[str, Any] = field(default_factory=dict)
    #: Constructor arguments filled from the dependency registry.
    injected: list[str] = field(default_factory=list)
    #: ``params`` keys that also name a dependency; the ``params`` value was used.
    overridden: list[str] = field(default_factory=list)
    #: Where it runs, from the entry's ``paths``/``exclude_paths``; ``None``: everywhere.
    scope: PathScope | None = None
    #: The ``get_response`` a Django-style middleware was built with.
    get_response: InnerChain | None = None


class InnerChain:
    """The ``get_response`` of a Django-style middleware.

    The instance is built once, but each route has its own chain inside it: the
    pipeline puts the inner chain of the request at hand in the environ under
    :attr:`key` before calling the middleware, and this calls it.
    """

    __slots__ = ("key",)

    _count = 0

    def __init__(self) -> None:
        InnerChain._count += 1
        self.key = f"lback_mw.get_response.{InnerChain._count}"

    def __call__(self, request: Request) -> WerkzeugResponse:
        return request.environ[self.key](request)  # type: ignore[no-any-return]


@dataclass
class RouteLayers:
    """A route's own middleware, built, and the global layers it switches off."""

    layers: list[Layer] = field(default_factory=list)
    skipped: list[SkippedLayer] = field(default_factory=list)
    #: ``id(layer)`` of each global layer switched off -> the setting that did it
    #: (``"ROUTES[2].exclude_middleware[0]"``).
    excluded: dict[int, str] = field(default_factory=dict)


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
    calling it (the ``__call__`` of a ``call_next`` function or a Django-style
    middleware) calls the wrapped one."""

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
