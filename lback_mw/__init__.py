"""lback_mw: a WSGI core built around a settings-driven middleware loader."""

from typing import TYPE_CHECKING

from .app import App as App
from .app import create_app as create_app
from .exceptions import ImproperlyConfigured as ImproperlyConfigured
from .exceptions import MiddlewareNotUsed as MiddlewareNotUsed
from .middlewares.base import BaseMiddleware as BaseMiddleware
from .middlewares.base import CallNext as CallNext
from .middlewares.base import Middleware as Middleware
from .routing import Route as Route
from .settings import Settings as Settings
from .wrappers import JSONResponse as JSONResponse
from .wrappers import Request as Request
from .wrappers import Response as Response

if TYPE_CHECKING:
    #: The installed distribution's version; pyproject.toml is the one place it is written.
    __version__: str
else:
    # Hidden from type checkers: a module __getattr__ would type every misspelt
    # name (``lback_mw.create_ap``) as a str instead of reporting it.
    def __getattr__(name: str) -> str:
        # PERF: the version is read from the installed metadata on first access,
        # not by every ``import lback_mw``: the lookup scans sys.path for the
        # distribution, about 1 ms (importlib.metadata itself comes with
        # pydantic-settings).
        if name != "__version__":
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        from importlib.metadata import version

        value = version("lback_mw")
        globals()["__version__"] = value  # later reads find it without __getattr__
        return value
