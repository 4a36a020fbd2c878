"""Importing the objects settings name by dotted path, with errors that say which part failed."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from werkzeug.utils import ImportStringError, import_string

from .exceptions import ImproperlyConfigured, did_you_mean


def import_object(path: str, where: str) -> Any:
    """``import_string`` with an error that says which part failed and suggests a fix."""
    try:
        return import_string(path)
    except ImportStringError as exc:
        raise ImproperlyConfigured(f"{where}: {_explain_import_failure(path)}") from exc
    except Exception as exc:  # the module itself raised while being imported
        raise ImproperlyConfigured(
            f"{where}: importing it raised {type(exc).__name__}: {exc}"
        ) from exc


def _explain_import_failure(path: str) -> str:
    # import_string only says the whole path failed; walk it to find the part
    # that is missing, and compare that part with what exists next to it.
    parts = path.split(".")
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
    candidates = {name for name in dir(module) if not name.startswith("_")}
    if hasattr(module, "__path__"):
        candidates |= {info.name for info in pkgutil.iter_modules(module.__path__)}
    what = "attribute" if depth == len(parts) else "attribute or submodule"
    return (
        f"module {module.__name__!r} has no {what} {missing!r}.{did_you_mean(missing, candidates)}"
    )
