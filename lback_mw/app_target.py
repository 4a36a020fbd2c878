"""``--app module:attribute`` (or ``LBACK_APP``): the app a project builds in code.

Flask's ``--app``: a project whose routes are registered with ``@app.route`` in
its own module is only seen whole through that module, so every command can load
the app from there instead of from the settings alone. The attribute is an
:class:`~lback_mw.App`, or a factory called without arguments that returns one;
with ``module`` alone, ``app`` then ``create_app`` are tried, as Flask does.
"""

from __future__ import annotations

import importlib
import sys

from .app import App
from .exceptions import ImproperlyConfigured, did_you_mean

#: The environment variable naming the app target, like ``LBACK_SETTINGS``.
APP_ENV_VAR = "LBACK_APP"
#: Tried in this order when the target names a module only.
DEFAULT_NAMES = ("app", "create_app")


def load_app_target(target: str) -> App:
    """The :class:`~lback_mw.App` that ``target`` (``myproject.wsgi:app``) names.

    :raises ImproperlyConfigured: the module does not import, the attribute is
        missing, or it is neither an app nor a factory returning one.
    """
    module_name, _, attribute = target.partition(":")
    where = f"--app {target!r}"
    if not module_name or (not attribute and ":" in target):
        raise ImproperlyConfigured(
            f"{where}: write module:attribute, e.g. --app myproject.wsgi:app "
            "(or the module alone, which must define 'app' or 'create_app')."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise ImproperlyConfigured(
                f"{where}: no module named {exc.name!r}. Run the command from the project "
                "root, or check the dotted path."
            ) from exc
        raise ImproperlyConfigured(f"{where}: importing {module_name!r} failed: {exc}") from exc
    names = [attribute] if attribute else [n for n in DEFAULT_NAMES if hasattr(module, n)]
    if not names or not hasattr(module, names[0]):
        public = [name for name in vars(module) if not name.startswith("_")]
        missing = repr(attribute) if attribute else " or ".join(map(repr, DEFAULT_NAMES))
        hint = did_you_mean(attribute, public) if attribute else ""
        raise ImproperlyConfigured(
            f"{where}: module {module_name!r} has no attribute {missing}.{hint}"
        )
    found = getattr(module, names[0])
    where = f"{where} ({module_name}:{names[0]})"
    if isinstance(found, App):
        return found
    if not callable(found):
        raise ImproperlyConfigured(
            f"{where} is a {type(found).__name__}, not a lback_mw.App or a factory returning one."
        )
    built = found()
    if not isinstance(built, App):
        raise ImproperlyConfigured(
            f"{where}: the factory returned {type(built).__name__}, not a lback_mw.App."
        )
    return built


def forget_target_modules(target: str, before: set[str]) -> None:
    """Drop the target's own modules imported since ``before`` (a ``sys.modules``
    snapshot), so that a process forked later imports them afresh and builds an
    app of its own rather than inheriting this one (serve's workers)."""
    package = target.partition(":")[0].split(".")[0]
    for name in [n for n in sys.modules if n not in before]:
        if name == package or name.startswith(package + "."):
            del sys.modules[name]
