"""Built-in middleware, one module each, importable from here by class name.

``"lback_mw.middlewares.CORSMiddleware"`` in ``MIDDLEWARES`` works as well as the
full ``"lback_mw.middlewares.cors.CORSMiddleware"``. The modules load on first
access (PEP 562), so naming one built-in does not import the others or what they
build on (``prometheus-client``; ``brotli`` and ``opentelemetry-api``, which are optional).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .access_log import AccessLogMiddleware
    from .auth import AuthenticationMiddleware
    from .compression import CompressionMiddleware, GZipMiddleware
    from .cors import CORSMiddleware
    from .csrf import CSRFMiddleware, csrf_exempt
    from .db_session import SQLAlchemySessionMiddleware
    from .https_redirect import HTTPSRedirectMiddleware
    from .metrics import MetricsMiddleware
    from .ratelimit import RateLimitMiddleware
    from .request_id import RequestIDMiddleware
    from .security import SecurityHeadersMiddleware
    from .session import SessionMiddleware
    from .static import StaticFilesMiddleware
    from .timing import TimingMiddleware
    from .tracing import TracingMiddleware
    from .trusted_host import TrustedHostMiddleware

#: Public name (a middleware class, or a helper such as ``csrf_exempt``) -> the
#: module of this package that defines it.
BUILTINS = {
    "AccessLogMiddleware": "access_log",
    "AuthenticationMiddleware": "auth",
    "CORSMiddleware": "cors",
    "CSRFMiddleware": "csrf",
    "CompressionMiddleware": "compression",
    "GZipMiddleware": "compression",
    "HTTPSRedirectMiddleware": "https_redirect",
    "MetricsMiddleware": "metrics",
    "RateLimitMiddleware": "ratelimit",
    "RequestIDMiddleware": "request_id",
    "SQLAlchemySessionMiddleware": "db_session",
    "SecurityHeadersMiddleware": "security",
    "SessionMiddleware": "session",
    "StaticFilesMiddleware": "static",
    "TimingMiddleware": "timing",
    "TracingMiddleware": "tracing",
    "TrustedHostMiddleware": "trusted_host",
    "csrf_exempt": "csrf",
}

__all__ = [
    "AccessLogMiddleware",
    "AuthenticationMiddleware",
    "CORSMiddleware",
    "CSRFMiddleware",
    "CompressionMiddleware",
    "GZipMiddleware",
    "HTTPSRedirectMiddleware",
    "MetricsMiddleware",
    "RateLimitMiddleware",
    "RequestIDMiddleware",
    "SQLAlchemySessionMiddleware",
    "SecurityHeadersMiddleware",
    "SessionMiddleware",
    "StaticFilesMiddleware",
    "TimingMiddleware",
    "TracingMiddleware",
    "TrustedHostMiddleware",
    "csrf_exempt",
]


def __getattr__(name: str) -> Any:
    module = BUILTINS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *BUILTINS])
