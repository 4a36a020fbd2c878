"""Importing the objects settings name by dotted path, with errors that say which part failed."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, ImportString, TypeAdapter, ValidationError
from pydantic_core import CoreSchema, PydanticCustomError, core_schema
from pydantic_core.core_schema import ValidatorFunctionWrapHandler
from werkzeug.utils import ImportStringError, import_string

from .exceptions import ImproperlyConfigured, did_you_mean

#: The pydantic error type of :class:`FunctionOrPath`; its message is a whole sentence
#: about the value, to be read after the parameter's name.
FUNCTION_OR_PATH_ERROR = "lback_mw.function_or_path"
_ImportedFunction = ImportString[Callable[..., Any]]


#: Said of ``.pkg``, ``pkg.`` or ``pkg..mod``, which importlib would report as a TypeError
#: or ValueError about relative imports.
_EMPTY_PART = (
    "{path!r} has an empty part: a dotted path is names joined by single dots, "
    "like 'package.module.function'."
)


def import_object(path: str, where: str) -> Any:
    """``import_string`` with an error that says which part failed and suggests a fix."""
    if not all(path.split(".")):
        raise ImproperlyConfigured(f"{where}: {_EMPTY_PART.format(path=path)}")
    try:
        return import_string(path)
    except Exception as exc:
        raise ImproperlyConfigured(f"{where}: {_import_failure(path, exc)}") from exc


@dataclass(frozen=True)
class FunctionOrPath:
    """``Annotated`` metadata of a parameter that takes a function, or its dotted path.

    ``Annotated[Loader | str, FunctionOrPath("...")]``: pydantic imports a string with
    ``ImportString`` when the loader validates ``params``, and :meth:`resolve` applies
    the same validation to a value given in Python (a string, or a function provided
    as a dependency). The result is always callable: a path to anything else is refused
    where it is imported, so a path to a string is never taken for a second path.
    pydantic's own messages ("Invalid python path", "Input should be callable") name
    neither the part that failed nor the function wanted; the errors here name both.
    """

    #: What the function must be, read after "not a function ":
    #: ``"user_loader(user_id: str) returning the user or None"``.
    expects: str

    def resolve(self, value: Any, where: str) -> Callable[..., Any]:
        """``value`` validated as ``params`` are; ``where`` names the owner and parameter,
        like ``"AuthenticationMiddleware: user_loader"``."""
        try:
            function: Callable[..., Any] = self._adapter.validate_python(value)
        except ValidationError as exc:
            raise ImproperlyConfigured(f"{where} {exc.errors()[0]['msg']}") from None
        return function

    @cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(Annotated[Any, self])

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        return core_schema.no_info_wrap_validator_function(
            self._explain, handler.generate_schema(_ImportedFunction)
        )

    def _explain(self, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            # ImportString[Callable] fails in two ways: the path does not import
            # ("import_error"), or what it gives is not callable ("callable_type").
            error = exc.errors()[0]
            if error["type"] != "callable_type":
                reason = f"{value!r}: {_import_failure(value, exc)}"
            elif isinstance(value, str):
                kind = _a(type(error["input"]).__name__)
                reason = f"{value!r} is {kind}, not a function {self.expects}."
            else:
                reason = (
                    f"is {_a(type(value).__name__)} ({value!r:.60}), not a function "
                    f"{self.expects}. If a DEPENDENCIES factory provides it, the factory "
                    "must return the function."
                )
        except Exception as exc:  # the module itself raised while being imported
            reason = f"{value!r}: {_import_failure(value, exc)}"
        raise PydanticCustomError(FUNCTION_OR_PATH_ERROR, "{reason}", {"reason": reason})


def _a(noun: str) -> str:
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _import_failure(path: str, exc: Exception) -> str:
    """Why ``path`` did not import: the part that is missing, or what the module raised."""
    if isinstance(exc, ImportStringError | ValidationError) or not all(path.split(".")):
        return _explain_import_failure(path)
    return f"importing it raised {type(exc).__name__}: {exc}"


def _explain_import_failure(path: str) -> str:
    # import_string only says the whole path failed; walk it to find the part
    # that is missing, and compare that part with what exists next to it.
    parts = path.split(".")
    if not all(parts):
        return _EMPTY_PART.format(path=path)
    module: ModuleType | None = None
    # mutation: equivalent "1 -> 2 at col 39" - one more round re-imports the whole path
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                return f"importing module {name!r} failed: {exc}"
            break
        except Exception as exc:
            return f"importing module {name!r} failed: {type(exc).__name__}: {exc}"
    else:  # every part imported; the last one is a module, not an attribute
        # mutation: equivalent - a safety net: import_string fails only when a part does not import
        return f"{path!r} could not be imported."
    missing = parts[depth - 1]
    if module is None:
        top_level = {info.name for info in pkgutil.iter_modules()}
        return (
            f"no module named {missing!r}.{did_you_mean(missing, top_level)} Check the "
            "spelling, and that the package is installed or on the Python path."
        )
    if depth < len(parts) and hasattr(module, missing):
        # The part exists but is not a module, so nothing can be imported from it.
        found = getattr(module, missing)
        return (
            f"{'.'.join(parts[:depth])!r} is {_a(type(found).__name__)}, not a module, so "
            f"{'.'.join(parts[depth:])!r} cannot be imported from it; name a function or "
            "class that a module defines."
        )
    candidates = {name for name in dir(module) if not name.startswith("_")}
    if hasattr(module, "__path__"):
        candidates |= {info.name for info in pkgutil.iter_modules(module.__path__)}
    what = "attribute" if depth == len(parts) else "attribute or submodule"
    return (
        f"module {module.__name__!r} has no {what} {missing!r}.{did_you_mean(missing, candidates)}"
    )
