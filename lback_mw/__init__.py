"""lback_mw: a WSGI core built around a settings-driven middleware loader."""

from importlib.metadata import version as _version

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

#: The installed distribution's version; pyproject.toml is the one place it is written.
__version__ = _version("lback_mw")
