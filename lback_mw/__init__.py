"""lback_mw: a WSGI core built around a settings-driven middleware loader."""

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

__version__ = "0.1.0"
