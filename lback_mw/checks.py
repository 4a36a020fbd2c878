"""The findings of ``lback-mw check``: settings that load but are probably wrong.

Errors that stop :func:`~lback_mw.create_app` raise
:class:`~lback_mw.ImproperlyConfigured`; what is left for here is configuration
that works but does something the author rarely means: a risky middleware order,
DEBUG in production, a weak key. The production checks of ``check --deploy`` are
in :mod:`lback_mw.deploy_checks`. Every finding has a stable id (``lback.W001``),
names the entry (``MIDDLEWARES[3] ('myapp.mw.Auth')``) and says what to change;
``SILENCED_CHECKS`` lists the ids a project has decided to live with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .exceptions import ImproperlyConfigured, count, did_you_mean
from .layers import Layer
from .middlewares.base import HOOK_NAMES, BaseMiddleware

if TYPE_CHECKING:
    from .app import App

#: Below this length a SECRET_KEY is guessable offline from one signed cookie.
MIN_SECRET_KEY_LENGTH = 32

Level = Literal["error", "warning"]


@dataclass(frozen=True)
class CheckMessage:
    """One finding: a stable ``id`` (to grep for, to silence, and to look up in
    docs/cli.md) and a message that says what is wrong and what to change. An id
    ``lback.E...`` is an error (``check`` exits 1), ``lback.W...`` a warning."""

    id: str
    message: str

    @property
    def level(self) -> Level:
        return "error" if self.id.startswith("lback.E") else "warning"

    def __str__(self) -> str:
        return f"{self.id}: {self.message}"


#: Every id a check can report, with what it is about (docs/cli.md has the table).
CHECK_IDS = {
    "lback.W001": "middleware order",
    "lback.W002": "middleware that does nothing",
    "lback.W003": "DEBUG on",
    "lback.W004": "short SECRET_KEY",
    "lback.E001": "memory:// backend with several workers",
    "lback.E002": "placeholder SECRET_KEY",
    "lback.W005": "ALLOWED_HOSTS allows any host",
    "lback.W006": "no HTTPS redirect",
    "lback.W007": "no HSTS",
    "lback.W008": "cookie without Secure",
    "lback.W009": "/metrics without a token",
    "lback.W010": "access log without a handler",
    "lback.W201": "a paths pattern that matches no route",
    "lback.W202": "a route switching a protective middleware off for an unsafe method",
}


def silence(messages: Sequence[CheckMessage], silenced: Sequence[str]) -> list[CheckMessage]:
    """``messages`` without the ids in ``SILENCED_CHECKS``; an unknown id is an error,
    so a typo there never hides nothing while looking as if it hid something."""
    for index, check_id in enumerate(silenced):
        if check_id not in CHECK_IDS:
            raise ImproperlyConfigured(
                f"SILENCED_CHECKS[{index}] is {check_id!r}, which is not a check id; ids look "
                f"like 'lback.W003' (docs/cli.md lists them).{did_you_mean(check_id, CHECK_IDS)}"
            )
    return [message for message in messages if message.id not in silenced]


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


def check_app(app: App) -> list[CheckMessage]:
    """Run every general check on a built app (not silenced); empty means no findings."""
    return [message for check in CHECKS for message in check(app)]


def check_ordering(app: App) -> list[CheckMessage]:
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
                    CheckMessage(
                        "lback.W001",
                        (
                            f"{summary}: {layer_name(outer)} (role {rule.outer!r}) comes after "
                            f"{layer_name(inner)} (role {rule.inner!r}). {rule.reason} "
                            f"{_move(outer, inner)}"
                        ),
                    )
                )
    return warnings


def check_debug(app: App) -> list[CheckMessage]:
    """DEBUG shows tracebacks, with source and local paths, to anyone who triggers a 500."""
    if not app.settings.DEBUG:
        return []
    return [
        CheckMessage(
            "lback.W003",
            (
                "DEBUG is on: error pages show tracebacks to whoever sends the request. Turn it "
                "off before deploying (DEBUG = False in settings, or LBACK_DEBUG=false)."
            ),
        )
    ]


def check_noop_middleware(app: App) -> list[CheckMessage]:
    """A BaseMiddleware subclass that overrides no hook costs a chain slot and does nothing."""
    hooks = ", ".join(HOOK_NAMES)
    return [
        CheckMessage(
            "lback.W002",
            (
                f"{layer_name(layer)} overrides none of {hooks}, so it does nothing per request. "
                "Override a hook, or remove it from the chain; if it only does set-up work "
                "in __init__, end __init__ with 'raise MiddlewareNotUsed' to say so."
            ),
        )
        for layer in app.chain
        if layer.style == "hooks" and not layer.hooks and isinstance(layer.instance, BaseMiddleware)
    ]


def check_secret_key(app: App) -> list[CheckMessage]:
    """A short SECRET_KEY can be brute-forced from one signed value (cookie, CSRF token)."""
    settings = app.settings
    length = len(settings.SECRET_KEY)
    # An empty key with DEBUG off is already an error; with DEBUG on it is accepted.
    if settings.DEBUG or length >= MIN_SECRET_KEY_LENGTH:
        return []
    return [short_secret_key(length)]


def short_secret_key(length: int) -> CheckMessage:
    """``lback.W004``, also reported by ``check --deploy`` while DEBUG is on."""
    return CheckMessage(
        "lback.W004",
        (
            f"SECRET_KEY is only {count(length, 'character')} long; anyone holding one "
            "signed cookie can try to guess it offline. Use at least "
            f"{MIN_SECRET_KEY_LENGTH} random characters, e.g. the output of: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        ),
    )


#: Roles whose protection a route should not switch off for a method that changes
#: state: the check, the headers and the host check are what make it safe.
PROTECTIVE_ROLES = ("csrf", "trusted_host", "security_headers")
#: Methods that change state (RFC 9110's unsafe methods the router is likely to see).
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def check_unmatched_paths(app: App) -> list[CheckMessage]:
    """A ``paths`` pattern that no route can match is a typo or a leftover: the layer
    then runs for 404s only. (``exclude_paths`` often names what a middleware serves
    itself, such as ``/static/*`` or ``/metrics``, so it is not checked.)"""
    rules = app.router.rules()
    warnings = []
    for layer in app.chain:
        paths = layer.scope.paths if layer.scope is not None else None
        if paths is None or not rules:
            continue
        for pattern in paths.patterns:
            if all(pattern.decide(rule) is False for rule in rules):
                warnings.append(
                    CheckMessage(
                        "lback.W201",
                        f"{layer_name(layer)}: paths pattern {pattern.text!r} matches no route, "
                        "so the middleware meets only 404s there, and what middleware "
                        "outside it serves itself. Check it against 'lback-mw routes' (a "
                        "'/api/*' prefix covers '/api' and everything under it).",
                    )
                )
    return warnings


def check_unprotected_routes(app: App) -> list[CheckMessage]:
    """A route that changes state with CSRF, the host check or the security headers
    switched off is how a forged request gets through."""
    warnings = []
    for rule in app.router.rules():
        built = app.route_layers(rule)
        unsafe = sorted((rule.methods or set()) & UNSAFE_METHODS)
        if built is None or not unsafe:
            continue
        for layer in app.chain:
            role = getattr(layer.instance, "ordering_role", None)
            if id(layer) in built.excluded and role in PROTECTIVE_ROLES:
                warnings.append(
                    CheckMessage(
                        "lback.W202",
                        f"{built.excluded[id(layer)]} switches {_role(role)} "
                        f"({layer.path}) off for {rule.rule!r}, which accepts "
                        f"{', '.join(unsafe)}. Keep it on for routes that change state; "
                        "exempt one view from CSRF with @csrf_exempt when another server "
                        "calls it (a webhook with its own signature).",
                    )
                )
    return warnings


#: Every check :func:`check_app` runs, in the order their warnings are printed.
CHECKS: tuple[Callable[[App], list[CheckMessage]], ...] = (
    check_ordering,
    check_noop_middleware,
    check_debug,
    check_secret_key,
    check_unmatched_paths,
    check_unprotected_routes,
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


def layer_name(layer: Layer) -> str:
    """How every finding names a layer: ``MIDDLEWARES[3] ('myapp.mw.Auth')``."""
    return f"{layer.label} ({layer.path!r})"
