"""The warnings of ``lback-mw check``: settings that load but are probably wrong.

Errors stop :func:`~lback_mw.create_app` with :class:`~lback_mw.ImproperlyConfigured`;
what is left for here is configuration that works but does something the
author rarely means: a risky middleware order, DEBUG in production, a weak key.
Every warning names the entry (``MIDDLEWARES[3] ('myapp.mw.Auth')``) and says
what to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .exceptions import count
from .layers import Layer
from .middlewares.base import HOOK_NAMES, BaseMiddleware

if TYPE_CHECKING:
    from .app import App

#: Below this length a SECRET_KEY is guessable offline from one signed cookie.
MIN_SECRET_KEY_LENGTH = 32


@dataclass(frozen=True)
class CheckWarning:
    """One finding: a stable ``id`` (to grep for, and to look up in docs/cli.md)
    and a message that says what is wrong and what to change."""

    id: str
    message: str

    def __str__(self) -> str:
        return f"{self.id}: {self.message}"


@dataclass(frozen=True)
class OrderingRule:
    """A middleware with role ``outer`` must come before (outside) one with role ``inner``."""

    outer: str
    inner: str
    #: Why, in one or two sentences a user can act on.
    reason: str


#: What the roles are called in messages.
ROLE_NAMES = {
    "access_log": "the access log",
    "auth": "authentication",
    "cors": "CORS",
    "csrf": "CSRF protection",
    "db_session": "the database session",
    "gzip": "gzip",
    "https_redirect": "the HTTPS redirect",
    "metrics": "metrics",
    "rate_limit": "rate limiting",
    "request_id": "the request id",
    "security_headers": "security headers",
    "session": "sessions",
    "static_files": "static files",
    "timing": "timing",
    "tracing": "tracing",
    "trusted_host": "the trusted-host check",
}

#: The order the built-ins are recommended in, outermost first, by role. Every
#: rule of :data:`ORDERING_RULES` agrees with it; docs/middlewares/index.md
#: explains each place.
RECOMMENDED_ORDER = (
    "metrics",
    "tracing",
    "request_id",
    "access_log",
    "timing",
    "security_headers",
    "trusted_host",
    "https_redirect",
    "cors",
    "gzip",
    "static_files",
    "session",
    "csrf",
    "auth",
    "rate_limit",
    "db_session",
)

#: Pairs of ``ordering_role`` values that must appear in this order in the chain
#: (outermost first). Kept small: each rule is a mistake that breaks something.
ORDERING_RULES = (
    OrderingRule(
        "cors",
        "auth",
        "A browser's CORS preflight (OPTIONS, sent without credentials) must be answered "
        "by CORS before authentication rejects it with 401; otherwise the browser blocks "
        "the real request.",
    ),
    OrderingRule(
        "security_headers",
        "trusted_host",
        "Security headers belong on every response, including the 400 for a bad Host "
        "header; a middleware outside them that answers on its own sends its response "
        "without them.",
    ),
    OrderingRule(
        "security_headers",
        "https_redirect",
        "Security headers belong on every response, including the redirect to https "
        "(a browser renders its body if it does not follow it).",
    ),
    OrderingRule(
        "trusted_host",
        "https_redirect",
        "The redirect to https is built from the Host header; check the host first, or a "
        "forged Host turns the redirect into an open redirect to any site.",
    ),
    OrderingRule(
        "security_headers",
        "gzip",
        "Security headers belong outermost: a middleware outside them can replace the "
        "response (an error while compressing becomes a fresh 500), and that response "
        "leaves without the headers.",
    ),
    OrderingRule(
        "session",
        "csrf",
        "CSRF protection keeps its token in request.session, which the session "
        "middleware sets in its process_request; inside-out, the token is never found.",
    ),
    OrderingRule(
        "session",
        "auth",
        "Authentication reads the logged-in user from request.session, which the "
        "session middleware sets in its process_request.",
    ),
    OrderingRule(
        "request_id",
        "access_log",
        "The access log writes the request id on each line; the id is assigned in "
        "process_request, so the request-id middleware must run first.",
    ),
    OrderingRule(
        "tracing",
        "request_id",
        "The request id takes the trace id, and the access log logs it; the span is "
        "started in the tracing middleware's process_request, so it must run first.",
    ),
    OrderingRule(
        "trusted_host",
        "session",
        "A request with a forged Host header should be refused before a session is "
        "loaded or a cookie is set for that host.",
    ),
    OrderingRule(
        "trusted_host",
        "auth",
        "A request with a forged Host header should be refused before it reaches "
        "authentication (and the user store), and before absolute URLs such as "
        "password-reset links are built from that Host.",
    ),
)


def check_app(app: App) -> list[CheckWarning]:
    """Run every check on a built app; an empty list means no warnings."""
    return [warning for check in CHECKS for warning in check(app)]


def check_ordering(app: App) -> list[CheckWarning]:
    """Apply :data:`ORDERING_RULES` to the chain (``MIDDLEWARES``, then ``app.use``)."""
    roles = [(layer, getattr(layer.instance, "ordering_role", None)) for layer in app.chain]
    warnings = []
    for rule in ORDERING_RULES:
        for position, (inner, inner_role) in enumerate(roles):
            if inner_role != rule.inner:
                continue
            for outer, outer_role in roles[position + 1 :]:
                if outer_role != rule.outer:
                    continue
                summary = f"{_role(rule.outer)} placed inside {_role(rule.inner)}"
                warnings.append(
                    CheckWarning(
                        "ordering",
                        (
                            f"{summary}: {_name(outer)} (role {rule.outer!r}) comes after "
                            f"{_name(inner)} (role {rule.inner!r}). {rule.reason} "
                            f"{_move(outer, inner)}"
                        ),
                    )
                )
    return warnings


def check_debug(app: App) -> list[CheckWarning]:
    """DEBUG shows tracebacks, with source and local paths, to anyone who triggers a 500."""
    if not app.settings.DEBUG:
        return []
    return [
        CheckWarning(
            "debug",
            (
                "DEBUG is on: error pages show tracebacks to whoever sends the request. Turn it "
                "off before deploying (DEBUG = False in settings, or LBACK_DEBUG=false)."
            ),
        )
    ]


def check_noop_middleware(app: App) -> list[CheckWarning]:
    """A BaseMiddleware subclass that overrides no hook costs a chain slot and does nothing."""
    hooks = ", ".join(HOOK_NAMES)
    return [
        CheckWarning(
            "noop-middleware",
            (
                f"{_name(layer)} overrides none of {hooks}, so it does nothing per request. "
                "Override a hook, or remove it from the chain; if it only does set-up work "
                "in __init__, end __init__ with 'raise MiddlewareNotUsed' to say so."
            ),
        )
        for layer in app.chain
        if layer.style == "hooks" and not layer.hooks and isinstance(layer.instance, BaseMiddleware)
    ]


def check_secret_key(app: App) -> list[CheckWarning]:
    """A short SECRET_KEY can be brute-forced from one signed value (cookie, CSRF token)."""
    settings = app.settings
    length = len(settings.SECRET_KEY)
    # An empty key with DEBUG off is already an error; with DEBUG on it is accepted.
    if settings.DEBUG or length >= MIN_SECRET_KEY_LENGTH:
        return []
    return [
        CheckWarning(
            "short-secret-key",
            (
                f"SECRET_KEY is only {count(length, 'character')} long; anyone holding one "
                "signed cookie can try to guess it offline. Use at least "
                f"{MIN_SECRET_KEY_LENGTH} random characters, e.g. the output of: "
                "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
            ),
        )
    ]


#: Every check :func:`check_app` runs, in the order their warnings are printed.
CHECKS: tuple[Callable[[App], list[CheckWarning]], ...] = (
    check_ordering,
    check_noop_middleware,
    check_debug,
    check_secret_key,
)


def _role(role: str) -> str:
    return ROLE_NAMES.get(role, role)


def _move(outer: Layer, inner: Layer) -> str:
    if inner.label.startswith("MIDDLEWARES") and not outer.label.startswith("MIDDLEWARES"):
        return (
            f"{outer.label} can never run before a MIDDLEWARES entry: list {outer.path} "
            f"in MIDDLEWARES above {inner.label} instead."
        )
    return f"Move {outer.label} above {inner.label}."


def _name(layer: Layer) -> str:
    return f"{layer.label} ({layer.path!r})"
