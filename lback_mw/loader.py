"""Turn ``MIDDLEWARES`` entries into instances, with errors that name the culprit.

Everything here runs once, inside :func:`~lback_mw.create_app`: importing,
reading constructor signatures, validating ``params`` and choosing which hooks
each class implements. Nothing is looked up per request.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ._imports import import_object as import_object
from .exceptions import (
    ImproperlyConfigured,
    MiddlewareNotUsed,
    did_you_mean,
    dotted_name,
    refuse_async,
)
from .injection import Dependencies, bind_arguments
from .layers import InnerChain, Layer, RouteLayers, SkippedLayer, Style
from .middlewares.base import (
    HOOK_NAMES,
    BaseMiddleware,
    declared_attributes,
    other_name_error,
    overridden_hooks,
)
from .paths import PathScope, scope_for
from .routing import RouteMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

_ENTRY_KEYS = ("class", "params", "paths", "exclude_paths")
#: The hooks a Django-style middleware may add to its ``__call__``, as Django's
#: ``BaseHandler`` collects them.
_DJANGO_HOOKS = ("process_view", "process_exception")


def load_middlewares(
    entries: Sequence[Any], registry: Dependencies, setting: str = "MIDDLEWARES"
) -> tuple[list[Layer], list[SkippedLayer]]:
    """Import, validate and instantiate every entry of a ``MIDDLEWARES`` list."""
    layers: list[Layer] = []
    skipped: list[SkippedLayer] = []
    for index, entry in enumerate(entries):
        label = f"{setting}[{index}]"
        target, path, params, scope = parse_entry(entry, label)
        where = f"{label} ({path!r})"
        cls = _require_class(target, where)
        style, hooks = classify(cls, where)
        try:
            layer = instantiate(cls, params, registry, label, path, style, hooks)
        except MiddlewareNotUsed as exc:
            skipped.append(SkippedLayer(label, path, str(exc) or "raised MiddlewareNotUsed"))
            continue
        layer.scope = scope
        layers.append(layer)
    return layers, skipped


def load_route_middleware(spec: RouteMiddleware, registry: Dependencies) -> RouteLayers:
    """Build a route's own ``middleware`` entries, labelled ``ROUTES[2].middleware[0]``.

    They take every ``MIDDLEWARES`` form but ``paths``/``exclude_paths``: the
    route already says where they run.
    """
    setting = f"{spec.label}.middleware"
    layers, skipped = load_middlewares(spec.middleware, registry, setting)
    for layer in layers:
        if layer.scope is not None:
            raise ImproperlyConfigured(
                f"{layer.label} ({layer.path!r}): paths and exclude_paths have no use in a "
                "route's own middleware, which runs for that route only. Remove them, or "
                "list the middleware in MIDDLEWARES with those paths."
            )
    return RouteLayers(layers, skipped)


def resolve_exclusions(spec: RouteMiddleware, chain: Sequence[Layer]) -> dict[int, str]:
    """``id(layer)`` of each global layer a route's ``exclude_middleware`` names, with
    the label of the naming entry; a name that is not in the chain is an error."""
    excluded: dict[int, str] = {}
    for index, name in enumerate(spec.exclude_middleware):
        label = f"{spec.label}.exclude_middleware[{index}]"
        if isinstance(name, str):
            target = import_object(name.strip(), f"{label} ({name!r})")
        elif isinstance(name, type):
            target = name
        else:
            raise ImproperlyConfigured(
                f"{label}: expected a dotted path or a class, got {type(name).__name__} {name!r}."
            )
        matches = [layer for layer in chain if _is_layer_of(layer, target)]
        if not matches:
            present = [layer.path for layer in chain]
            wanted = dotted_name(target)
            # Compared by class name: the dotted paths share their module prefixes.
            # mutation: equivalent "1 -> 2 at col 38" - the last part is the same either way
            short = {path.rsplit(".", 1)[-1] for path in present}
            # mutation: equivalent "1 -> 2 at col 38" - the last part is the same either way
            name = wanted.rsplit(".", 1)[-1]
            raise ImproperlyConfigured(
                f"{label} ({wanted!r}) is not in the middleware chain, so there is "
                f"nothing to switch off.{did_you_mean(name, short)} "
                f"The chain has: {', '.join(present) or 'no middleware'}."
            )
        for layer in matches:
            excluded[id(layer)] = label
    return excluded


def _is_layer_of(layer: Layer, target: Any) -> bool:
    instance = layer.instance
    return instance is target or type(instance) is target


def wrap_wsgi_middlewares(
    entries: Sequence[Any], registry: Dependencies, app: WSGIApplication
) -> tuple[WSGIApplication, list[Layer]]:
    """Build ``WSGI_MIDDLEWARES`` around ``app``; the first entry ends up outermost."""
    resolved = []
    for index, entry in enumerate(entries):
        label = f"WSGI_MIDDLEWARES[{index}]"
        target, path, params, scope = parse_entry(entry, label)
        where = f"{label} ({path!r})"
        if scope is not None:
            raise ImproperlyConfigured(
                f"{where}: paths and exclude_paths apply to MIDDLEWARES entries; a WSGI "
                "wrapper runs around the whole app, before routing. Scope it in its own "
                "configuration, or use a MIDDLEWARES middleware."
            )
        cls = _require_class(target, where)
        bound = bind_arguments(cls, params, registry, where, owner=cls, skip_first=True)
        resolved.append(
            (
                cls,
                where,
                Layer(
                    label,
                    path,
                    None,
                    "wsgi",
                    ("__call__",),
                    bound.params,
                    bound.injected,
                    bound.overridden,
                ),
                bound.kwargs,
            )
        )
    layers: list[Layer] = []
    for cls, where, layer, kwargs in reversed(resolved):
        try:
            app = cls(app, **kwargs)
        except Exception as exc:
            raise ImproperlyConfigured(
                f"{where}: its constructor raised {type(exc).__name__}: {exc}"
            ) from exc
        layer.instance = app
        layers.insert(0, layer)
    return app, layers


def parse_entry(entry: Any, label: str) -> tuple[Any, str, dict[str, Any], PathScope | None]:
    """Split an entry into (dotted path or class, display path, params, scope)."""
    params: Any = {}
    scope = None
    target = entry
    if isinstance(entry, Mapping):
        if isinstance(entry.get("class"), str):
            label = f"{label} ({entry['class']!r})"
        unknown = [key for key in entry if key not in _ENTRY_KEYS]
        if unknown:
            key = str(unknown[0])
            raise ImproperlyConfigured(
                f"{label}: unknown key {key!r} in a middleware dict."
                f"{did_you_mean(key, _ENTRY_KEYS)} A dict entry has the keys 'class' "
                "(a dotted path) and, optionally, 'params' (constructor arguments), "
                "'paths' and 'exclude_paths' (where it runs)."
            )
        if "class" not in entry:
            raise ImproperlyConfigured(
                f"{label}: a middleware dict needs a 'class' key with the dotted path "
                f"of the middleware class; got keys {sorted(map(str, entry))}."
            )
        target = entry["class"]
        params = entry.get("params") or {}
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            raise ImproperlyConfigured(
                f"{label}: 'params' must be a mapping of parameter names to values, "
                f"got {type(params).__name__} {params!r}."
            )
        scope = scope_for(entry.get("paths"), entry.get("exclude_paths"), label)
    if isinstance(target, str):
        target = target.strip()
        if "." not in target:
            raise ImproperlyConfigured(
                f"{label}: {target!r} is not a dotted path. Write the full import path, "
                "e.g. 'myproject.middlewares.TimerMiddleware'."
            )
        return target, target, dict(params), scope
    if isinstance(target, type):
        return target, dotted_name(target), dict(params), scope
    raise ImproperlyConfigured(
        f"{label}: expected a dotted path string, a {{'class': ..., 'params': {{...}}}} "
        f"dict or a class, got {type(target).__name__} {target!r}."
    )


def _require_class(target: Any, where: str) -> type:
    obj = import_object(target, where) if isinstance(target, str) else target
    if isinstance(obj, type):
        return obj
    if isinstance(obj, ModuleType):
        kind = "a module"
    elif callable(obj):
        kind = f"the function {getattr(obj, '__name__', obj)!r}"
        raise ImproperlyConfigured(
            f"{where}: resolves to {kind}, not a class. MIDDLEWARES takes classes; "
            "register a function middleware (request, call_next) with @app.middleware "
            "or app.use()."
        )
    else:
        kind = f"a {type(obj).__name__} instance"
    raise ImproperlyConfigured(f"{where}: resolves to {kind}, not a class.")


def classify(cls: type, where: str) -> tuple[Style, tuple[str, ...]]:
    """Decide how the pipeline drives ``cls``, refusing classes it cannot drive."""
    if _is_django_middleware(cls):
        hooks = (
            "__call__",
            *(name for name in _DJANGO_HOOKS if callable(getattr(cls, name, None))),
        )
        _refuse_coroutines(cls, hooks, where)
        positional = _positional_names(cls.__call__)[1:]
        if len(positional) != 1:
            raise ImproperlyConfigured(
                f"{where}: {cls.__name__} takes get_response, so it is a Django-style "
                f"middleware, whose __call__ takes (request); got ({', '.join(positional)}). "
                "Call self.get_response(request) inside it to run the rest of the chain."
            )
        return "django", hooks
    if issubclass(cls, BaseMiddleware):
        hooks = overridden_hooks(cls)
    else:
        hooks = tuple(name for name in HOOK_NAMES if callable(getattr(cls, name, None)))
    call_next = _call_next_method(cls, where)
    if hooks and call_next:
        raise ImproperlyConfigured(
            f"{where}: defines both process_* hooks ({', '.join(hooks)}) and "
            f"{call_next}(request, call_next). A middleware uses one style or the other."
        )
    if call_next:
        return "call_next", (call_next,)
    if not hooks and not issubclass(cls, BaseMiddleware):
        if _is_wsgi_middleware(cls):
            raise ImproperlyConfigured(
                f"{where}: is a WSGI middleware (it wraps an app and is called with "
                "environ, start_response). List it in WSGI_MIDDLEWARES instead, where it "
                "is applied around the whole app."
            )
        raise ImproperlyConfigured(
            f"{where}: {cls.__name__} implements no middleware hook. Define at least "
            "one of process_request, process_view, process_response, process_exception, "
            "or dispatch(request, call_next), or write it in Django's shape "
            "(__init__(self, get_response) and __call__(self, request)); or subclass "
            "lback_mw.BaseMiddleware."
        )
    _refuse_coroutines(cls, hooks, where)
    return "hooks", hooks


def _call_next_method(cls: type, where: str) -> str | None:
    if callable(getattr(cls, "dispatch", None)):
        name = "dispatch"
    elif inspect.isfunction(cls.__call__) and not _is_wsgi_middleware(cls):
        name = "__call__"
    else:
        return None
    check_call_next_signature(getattr(cls, name), f"{cls.__name__}.{name}", where, True)
    return name


def check_call_next_signature(
    function: Callable[..., Any], name: str, where: str, is_method: bool = False
) -> None:
    """Refuse a ``call_next`` callable that is async or does not take (request, call_next)."""
    refuse_async(function, where, name)
    positional = _positional_names(function)[1 if is_method else 0 :]
    if len(positional) != 2:
        raise ImproperlyConfigured(
            f"{where}: {name} must take (request, call_next), got "
            f"({', '.join(positional)}). A call_next middleware calls "
            "call_next(request) to run the rest of the chain and returns the response."
        )


def _is_django_middleware(cls: type) -> bool:
    """Django's new-style shape: ``__init__(self, get_response)`` and ``__call__(request)``."""
    init = getattr(cls, "__init__", None)
    if not (inspect.isfunction(init) and inspect.isfunction(cls.__call__)):
        # mutation: equivalent "return value -> None" - None is as false as False here
        return False
    parameters = list(inspect.signature(init).parameters)
    return parameters[1:2] == ["get_response"] and not _is_wsgi_middleware(cls)


def _positional_names(function: Callable[..., Any]) -> list[str]:
    return [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


def _is_wsgi_middleware(cls: type) -> bool:
    if not inspect.isfunction(cls.__call__):
        return False  # mutation: equivalent "return value -> None" - callers test its truth
    parameters = list(inspect.signature(cls.__call__).parameters)
    return parameters[1:3] == ["environ", "start_response"]


def _refuse_coroutines(cls: type, hooks: Sequence[str], where: str) -> None:
    for name in hooks:
        refuse_async(getattr(cls, name), where, f"{cls.__name__}.{name}")


def _check_declared_params(cls: type, params: Mapping[str, Any], where: str) -> None:
    """Without an ``__init__`` of its own, BaseMiddleware's ``**kwargs`` would take any
    key: only the attributes the class declares are accepted."""
    if cls.__init__ is not BaseMiddleware.__init__:  # type: ignore[misc]
        return
    names = declared_attributes(cls)
    for key in params:
        if key not in names:
            raise ImproperlyConfigured(
                f"{where}: unknown parameter {key!r} in params.{did_you_mean(key, names)} "
                f"{cls.__name__} has no __init__ of its own, so params may only set "
                f"the attributes it declares: {', '.join(names) or 'none'}. Declare it on "
                f"the class (e.g. {key}: str = '...') or give the class an __init__."
            )


def instantiate(
    cls: type,
    params: Mapping[str, Any],
    registry: Dependencies,
    label: str,
    path: str,
    style: Style,
    hooks: tuple[str, ...],
) -> Layer:
    """Build one middleware, turning its own configuration errors into ours.

    :class:`MiddlewareNotUsed` propagates so the caller can record the skip.
    """
    where = f"{label} ({path!r})"
    # Before binding, whose "unknown parameter" would only guess at the new name.
    error = other_name_error(cls, params)
    if error is not None:
        raise ImproperlyConfigured(f"{where}: {error}")
    if issubclass(cls, BaseMiddleware):
        _check_declared_params(cls, params, where)
    django = style == "django"
    bound = bind_arguments(cls, params, registry, where, owner=cls, skip_first=django)
    get_response = InnerChain() if django else None
    leading = () if get_response is None else (get_response,)
    try:
        instance = cls(*leading, **bound.kwargs)
    except (MiddlewareNotUsed, ImproperlyConfigured) as exc:
        if isinstance(exc, ImproperlyConfigured):
            raise ImproperlyConfigured(f"{where}: {exc}") from exc
        raise
    except Exception as exc:
        raise ImproperlyConfigured(
            f"{where}: its constructor raised {type(exc).__name__}: {exc}"
        ) from exc
    return Layer(
        label,
        path,
        instance,
        style,
        hooks,
        bound.params,
        bound.injected,
        bound.overridden,
        get_response=get_response,
    )
