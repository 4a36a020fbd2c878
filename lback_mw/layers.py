"""One entry of the resolved chain, as the pipeline runs it and the CLI shows it."""

from __future__ import annotations

from dataclasses import dataclass, field
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
