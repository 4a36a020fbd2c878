"""The dependency registry, and constructor arguments bound from it by name.

A constructor parameter is filled from the entry's ``params`` first, then from
the registry, then left to its default. ``params`` values are validated and
coerced against the parameter's annotation with pydantic, so ``"100"`` from YAML
becomes ``100`` for an ``int`` and ``"lots"`` is refused at start-up.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError
from pydantic_core import ErrorDetails

from ._imports import FUNCTION_OR_PATH_ERROR
from .exceptions import ImproperlyConfigured, did_you_mean, dotted_name, refuse_async

#: The default of ``value`` arguments that were not given (``None`` is a value).
MISSING: Any = object()


@dataclass
class _Provider:
    value: Any = MISSING
    factory: Callable[..., Any] | None = None
    #: Build a fresh value for each asker, from the asker's class (``logger``).
    per_owner: Callable[[type | None], Any] | None = None


class Dependencies:
    """Named values injected into middleware constructors and factories.

    Factories run once, on first use, under a lock; their own parameters are
    injected from the registry by name too.
    """

    def __init__(self) -> None:
        self._providers: dict[str, _Provider] = {}
        self._lock = threading.RLock()

    def provide(
        self,
        name: str,
        value: Any = MISSING,
        *,
        factory: Callable[..., Any] | None = None,
    ) -> None:
        """Register ``value``, or a ``factory`` called lazily the first time ``name`` is asked for.

        A plain ``value`` is stored as it is, even if it is callable (a
        ``user_loader`` function is a value, not a factory).
        """
        if not name.isidentifier():
            raise ImproperlyConfigured(
                f"Dependency name {name!r} is not a valid Python identifier, so no "
                "constructor parameter could ever ask for it."
            )
        if (value is MISSING) == (factory is None):
            raise TypeError(
                f"provide({name!r}, ...) takes exactly one of a value or factory=, "
                f"got {'both' if factory is not None else 'neither'}."
            )
        if factory is not None:  # its coroutine would be the dependency, never awaited
            refuse_async(factory, f"Dependency {name!r}", dotted_name(factory), "factories")
        self._providers[name] = _Provider(value=value, factory=factory)

    def provide_per_owner(self, name: str, build: Callable[[type | None], Any]) -> None:
        """Register a dependency built anew for each class that asks (``logger``)."""
        self._providers[name] = _Provider(per_owner=build)

    def __contains__(self, name: object) -> bool:
        return name in self._providers

    def names(self) -> list[str]:
        return sorted(self._providers)

    def is_created(self, name: str) -> bool:
        """Whether a lazily built dependency has been built yet (it is built on first use)."""
        provider = self._providers.get(name)
        return provider is not None and provider.value is not MISSING

    def resolve(self, name: str, owner: type | None = None) -> Any:
        """Return the dependency ``name``, building it on first use."""
        try:
            provider = self._providers[name]
        except KeyError:
            raise ImproperlyConfigured(
                f"Unknown dependency {name!r}.{did_you_mean(name, self._providers)} "
                f"Known dependencies: {', '.join(self.names())}."
            ) from None
        if provider.per_owner is not None:
            return provider.per_owner(owner)
        if provider.value is MISSING:
            with self._lock:
                if provider.value is MISSING:
                    assert provider.factory is not None  # provide() guarantees one of them
                    try:
                        bound = bind_arguments(
                            provider.factory, {}, self, f"dependency {name!r}", owner=None
                        )
                    except ImproperlyConfigured as exc:
                        factory = dotted_name(provider.factory)
                        # mutation: equivalent "1 -> 2 at col 52" - the last part either way
                        short = factory.rsplit(".", 1)[-1]
                        raise ImproperlyConfigured(
                            f"{exc} Note: {factory} is registered as a factory, which is "
                            f"called once to build {name!r}. If {factory} itself is the "
                            f"dependency (a function such as a user_loader), provide it "
                            f"as a value: app.provide({name!r}, value={short}), "
                            f"create_app(..., dependencies={{{name!r}: ...}}), or point "
                            "DEPENDENCIES at a factory that returns it."
                        ) from None
                    try:
                        provider.value = provider.factory(**bound.kwargs)
                    except ImproperlyConfigured:
                        raise
                    except Exception as exc:
                        raise ImproperlyConfigured(
                            f"Building dependency {name!r} failed: {dotted_name(provider.factory)} "
                            f"raised {type(exc).__name__}: {exc}"
                        ) from exc
        return provider.value

    __getitem__ = resolve

    def values(self) -> dict[str, Any]:
        """The dependencies already built, for closing them when the app shuts down."""
        return {
            name: provider.value
            for name, provider in self._providers.items()
            if provider.value is not MISSING
        }


@dataclass
class BoundArguments:
    """What :func:`bind_arguments` decided, kept for ``lback-mw middleware``."""

    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Parameter names filled from ``params`` (validated values).
    params: dict[str, Any] = field(default_factory=dict)
    #: Parameter names filled from the registry.
    injected: list[str] = field(default_factory=list)
    #: Parameter names given in ``params`` that also name a dependency (``params`` won).
    overridden: list[str] = field(default_factory=list)


def bind_arguments(
    target: Callable[..., Any],
    params: Mapping[str, Any],
    registry: Dependencies,
    label: str,
    *,
    owner: type | None,
    skip_first: bool = False,
) -> BoundArguments:
    """Work out the keyword arguments to call ``target`` with.

    :param label: names the culprit in errors, e.g. ``"MIDDLEWARES[3] ('app.mw.Auth')"``.
    :param owner: the class being built, for per-owner dependencies such as ``logger``.
    :param skip_first: the first parameter is passed positionally by the caller
        (the wrapped app of a WSGI middleware).
    """
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError) as exc:
        raise ImproperlyConfigured(
            f"{label}: cannot read the constructor signature ({type(exc).__name__}: {exc})."
        ) from exc
    parameters = list(signature.parameters.values())
    if skip_first and parameters:
        parameters = parameters[1:]
    named = [p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_var_kwargs = any(p.kind is p.VAR_KEYWORD for p in parameters)
    names = {p.name for p in named}

    unknown = [key for key in params if key not in names]
    if unknown and not takes_var_kwargs:
        key = unknown[0]
        accepted = ", ".join(sorted(names)) or "none"
        raise ImproperlyConfigured(
            f"{label}: unknown parameter {key!r} in params.{did_you_mean(key, names)} "
            f"The constructor accepts: {accepted}."
        )

    bound = BoundArguments()
    for param in named:
        if param.name in params:
            value = _validate(param, _annotation(param, target), params[param.name], label)
            bound.kwargs[param.name] = bound.params[param.name] = value
            if param.name in registry:
                bound.overridden.append(param.name)
        elif param.name in registry:
            bound.kwargs[param.name] = registry.resolve(param.name, owner)
            bound.injected.append(param.name)
        elif param.default is param.empty:
            raise ImproperlyConfigured(
                f"{label}: required parameter {param.name!r} has no value. Give it in "
                f"params, or provide a dependency of that name."
                f"{did_you_mean(param.name, registry.names())} "
                f"Known dependencies: {', '.join(registry.names())}."
            )
    for key in unknown:  # accepted through **kwargs, passed on unvalidated
        bound.kwargs[key] = bound.params[key] = params[key]
    for param in parameters:
        if param.kind is param.POSITIONAL_ONLY and param.default is param.empty:
            raise ImproperlyConfigured(
                f"{label}: parameter {param.name!r} is positional-only, so it cannot be "
                "filled by name from params or the dependency registry."
            )
    return bound


def _annotation(param: inspect.Parameter, target: Callable[..., Any]) -> Any:
    """The parameter's annotation as an object, or ``Any`` if it cannot be evaluated.

    Annotations may be strings (``from __future__ import annotations``) naming
    types imported only under ``TYPE_CHECKING`` (werkzeug's ProxyFix does this);
    those cannot be checked at run time, so they are not.
    """
    annotation = param.annotation
    if annotation is param.empty:
        return Any
    if not isinstance(annotation, str):
        return annotation
    function = inspect.unwrap(getattr(target, "__init__", target))
    namespace = getattr(function, "__globals__", {})
    try:
        # The text is an annotation in the source of the class being built, never input.
        return eval(annotation, namespace)  # noqa: S307
    except Exception:
        return Any


def _validate(param: inspect.Parameter, annotation: Any, value: Any, label: str) -> Any:
    if annotation is Any:
        return value
    adapter = _adapter(annotation)
    if adapter is None:
        return value
    try:
        validated = adapter.validate_python(value)
    except ValidationError as exc:
        errors = exc.errors()
        # mutation: equivalent "0 -> -1 at col 18" - FunctionOrPath raises one error only
        if errors[0]["type"] == FUNCTION_OR_PATH_ERROR:  # a whole sentence about the value
            # mutation: equivalent "0 -> -1 at col 71" - FunctionOrPath raises one error only
            raise ImproperlyConfigured(f"{label}: {param.name} {errors[0]['msg']}") from None
        reasons = "; ".join(_reason(err) for err in errors)
        raise ImproperlyConfigured(
            f"{label}: parameter {param.name!r} expects {_type_name(annotation)}, "
            f"got {value!r}: {reasons}."
        ) from exc
    # pydantic rebuilds containers even when nothing needed coercing; keep the
    # caller's object then, so a list or dict passed in Python settings stays shared.
    if type(validated) is type(value) and validated == value:
        return value
    return validated


def _reason(error: ErrorDetails) -> str:
    """pydantic's message, prefixed with where in the value it applies (``[0].limit``)."""
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"])
    return f"at {where.lstrip('.')}: {error['msg']}" if where else error["msg"]


def _adapter(annotation: Any) -> TypeAdapter[Any] | None:
    """A validator for ``annotation``; ``None`` when pydantic cannot build one."""
    try:
        return TypeAdapter(annotation)
    except (PydanticSchemaGenerationError, PydanticUserError):
        pass
    try:
        # Classes pydantic has no schema for (a project's own types) are checked
        # with isinstance, which is all a constructor could expect of them.
        return TypeAdapter(annotation, config=ConfigDict(arbitrary_types_allowed=True))
    except (PydanticSchemaGenerationError, PydanticUserError):
        # Annotations pydantic refuses outright (typing.TypedDict before Python
        # 3.12): the value goes to the constructor unchecked, as with no annotation.
        return None


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation)


def logger_for(owner: type | None) -> logging.Logger:
    """The ``logger`` dependency: named after the asking class's module."""
    return logging.getLogger(owner.__module__ if owner is not None else "lback_mw")
