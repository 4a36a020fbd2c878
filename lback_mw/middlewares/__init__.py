"""Built-in middleware, one module each, importable from here by class name.

``"lback_mw.middlewares.CORSMiddleware"`` in ``MIDDLEWARES`` works as well as the
full ``"lback_mw.middlewares.cors.CORSMiddleware"``. The modules load on first
access (PEP 562), so naming one built-in does not import the others or their
optional dependencies (``prometheus-client``, ``brotli``).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .access_log import AccessLogMiddleware
    from .compression import GZipMiddleware
    from .cors import CORSMiddleware
    from .https_redirect import HTTPSRedirectMiddleware
    from .metrics import MetricsMiddleware
    from .request_id import RequestIDMiddleware
    from .security import SecurityHeadersMiddleware
    from .timing import TimingMiddleware
    from .trusted_host import TrustedHostMiddleware

#: Class name -> the module (in this package) that defines it.
BUILTINS = {
    "AccessLogMiddleware": "access_log",
    "CORSMiddleware": "cors",
    "GZipMiddleware": "compression",
    "HTTPSRedirectMiddleware": "https_redirect",
    "MetricsMiddleware": "metrics",
    "RequestIDMiddleware": "request_id",
    "SecurityHeadersMiddleware": "security",
    "TimingMiddleware": "timing",
    "TrustedHostMiddleware": "trusted_host",
}

__all__ = [
    "AccessLogMiddleware",
    "CORSMiddleware",
    "GZipMiddleware",
    "HTTPSRedirectMiddleware",
    "MetricsMiddleware",
    "RequestIDMiddleware",
    "SecurityHeadersMiddleware",
    "TimingMiddleware",
    "TrustedHostMiddleware",
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
