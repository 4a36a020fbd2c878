"""``lback-mw check --deploy``: what is fine in development and wrong in production.

Django's ``check --deploy``, for the built-ins: each check reads the built chain
(the layers' ``ordering_role`` and validated ``params``) and the settings, never
a request. :func:`check_shared_state` is also what ``lback-mw serve --workers N``
runs at start-up, so the two never disagree about memory backends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .backends.memory import MemoryBackend
from .checks import MIN_SECRET_KEY_LENGTH, CheckMessage, layer_name, short_secret_key
from .layers import Layer

if TYPE_CHECKING:
    from .app import App

#: Words of the keys that docs, examples and tutorials ship; a key holding one
#: was copied from somewhere public, whatever its length.
PLACEHOLDER_KEY_WORDS = ("insecure", "change-me", "changeme", "not-for-production", "dev-only")
#: Fewer distinct characters than this is a made-up key ("aaaa...", "xxxx...").
MIN_SECRET_KEY_CHARACTERS = 5

#: What each memory-backed layer is configured by, for the message.
_BACKEND_SETTING = {"session": "SESSION_BACKEND", "rate_limit": "RATELIMIT_BACKEND"}


def check_deploy(app: App, *, workers: int) -> list[CheckMessage]:
    """Every production check, in the order of docs/cli.md's table."""
    return [message for check in DEPLOY_CHECKS for message in check(app, workers)]


def check_shared_state(app: App, workers: int) -> list[CheckMessage]:
    """``lback.E001``: a ``memory://`` store lives in one process, so with several
    workers each keeps its own: N times the rate limit, and sessions that exist
    in one worker only."""
    if workers <= 1:
        return []
    messages = []
    for layer, role in _roles(app):
        backend = getattr(layer.instance, "backend", None)
        if role in _BACKEND_SETTING and isinstance(backend, MemoryBackend):
            setting = _BACKEND_SETTING[role]
            effect = (
                f"each of the {workers} workers counts on its own, so a client gets up to "
                f"{workers} times the limit"
                if role == "rate_limit"
                else "a session stored by one worker is unknown to the others, so users "
                "are signed out at random"
            )
            messages.append(
                CheckMessage(
                    "lback.E001",
                    f"{layer_name(layer)} keeps its state in memory:// with {workers} workers: "
                    f"{effect}. Set {setting} (or the layer's 'backend' param) to a Redis "
                    f"URL shared by the workers, e.g. {setting} = 'redis://127.0.0.1:6379/0', "
                    "or run one worker (--workers 1).",
                )
            )
    return messages


def check_secret_key_value(app: App, workers: int) -> list[CheckMessage]:
    """``lback.E002``: a key copied from an example, or made of a few characters."""
    key = app.settings.SECRET_KEY
    placeholder = next((word for word in PLACEHOLDER_KEY_WORDS if word in key.lower()), None)
    if placeholder is None and len(set(key)) >= MIN_SECRET_KEY_CHARACTERS:
        if app.settings.DEBUG and len(key) < MIN_SECRET_KEY_LENGTH:
            # lback.W004 skips a short key while DEBUG is on; a deployment must not.
            return [short_secret_key(len(key))]
        return []
    why = (
        f"contains {placeholder!r}, so it was copied from an example that anyone can read"
        if placeholder
        else f"has fewer than {MIN_SECRET_KEY_CHARACTERS} distinct characters"
    )
    return [
        CheckMessage(
            "lback.E002",
            f"SECRET_KEY {why}: whoever knows it can forge session cookies and CSRF "
            "tokens. Set LBACK_SECRET_KEY to the output of: "
            "python -c 'import secrets; print(secrets.token_urlsafe(50))'",
        )
    ]


def check_allowed_hosts(app: App, workers: int) -> list[CheckMessage]:
    """``lback.W005``: without a host check, a forged Host header reaches the views
    (password-reset links, cache poisoning)."""
    trusted = [layer for layer, role in _roles(app) if role == "trusted_host"]
    if not trusted:
        return [
            CheckMessage(
                "lback.W005",
                "No TrustedHostMiddleware in MIDDLEWARES: any Host header is accepted, and "
                "URLs built from it (redirects, password-reset links) can point anywhere. "
                "Add 'lback_mw.middlewares.TrustedHostMiddleware' and list your host names "
                "in ALLOWED_HOSTS.",
            )
        ]
    return [
        CheckMessage(
            "lback.W005",
            f"{layer_name(layer)} allows any host ('*' in {where}): a forged Host header is "
            f"accepted. List your host names instead, e.g. {where} = ['example.com'].",
        )
        for layer in trusted
        for where, hosts in [_hosts(app, layer)]
        if "*" in hosts
    ]


def check_https_redirect(app: App, workers: int) -> list[CheckMessage]:
    """``lback.W006``: without the redirect, a plain-http request is served as such."""
    if any(role == "https_redirect" for _, role in _roles(app)):
        return []
    return [
        CheckMessage(
            "lback.W006",
            "No HTTPSRedirectMiddleware in MIDDLEWARES: requests over plain http are "
            "answered over http, cookies and passwords included. Add "
            "'lback_mw.middlewares.HTTPSRedirectMiddleware' (after TrustedHostMiddleware), "
            "or silence lback.W006 if your proxy redirects to https itself.",
        )
    ]


def check_hsts(app: App, workers: int) -> list[CheckMessage]:
    """``lback.W007``: without HSTS a browser tries http first, every time."""
    headers = [layer for layer, role in _roles(app) if role == "security_headers"]
    if any(layer.params.get("hsts") for layer in headers):
        return []
    where = (
        f"{layer_name(headers[0])} has hsts off"
        if headers
        else "No SecurityHeadersMiddleware in MIDDLEWARES, so no Strict-Transport-Security"
    )
    return [
        CheckMessage(
            "lback.W007",
            f"{where}: browsers keep trying plain http first, where an attacker on the "
            "network can intercept the first request. Set its param 'hsts' to a max-age in "
            "seconds (e.g. 31536000) once the site is served over https only.",
        )
    ]


def check_secure_cookies(app: App, workers: int) -> list[CheckMessage]:
    """``lback.W008``: a cookie without ``Secure`` is sent over plain http too.

    ``None`` (the default) follows the request's scheme, which is only safe when
    every request that reaches the layer is https: with the redirect in the chain.
    """
    redirected = any(role == "https_redirect" for _, role in _roles(app))
    messages = []
    for layer, role in _roles(app):
        if role not in ("session", "csrf"):
            continue
        value = layer.params.get("cookie_secure")
        if value is True or (value is None and redirected):
            continue
        why = (
            "is False"
            if value is False
            else "follows the request's scheme, and nothing redirects http to https"
        )
        messages.append(
            CheckMessage(
                "lback.W008",
                f"{layer_name(layer)}: its cookie is sent without Secure ('cookie_secure' "
                f"{why}), so it travels over plain http where it can be read. Set the param "
                "'cookie_secure' to True.",
            )
        )
    return messages


def check_metrics_token(app: App, workers: int) -> list[CheckMessage]:
    """``lback.W009``: ``/metrics`` lists paths, traffic and process details."""
    return [
        CheckMessage(
            "lback.W009",
            f"{layer_name(layer)} serves {layer.params.get('path', '/metrics')} to anyone: it "
            "shows your traffic, paths and process details. Set METRICS_TOKEN (or the "
            "param 'token') and give the token to Prometheus (authorization: credentials).",
        )
        for layer, role in _roles(app)
        if role == "metrics"
        and layer.params.get("token") is None
        and app.settings.METRICS_TOKEN is None
    ]


def check_access_log_handler(app: App, workers: int) -> list[CheckMessage]:
    """``lback.W010``: an access log whose records go nowhere.

    With ``LOGGING`` unset, ``serve`` installs a handler for ``lback_mw.access``;
    otherwise the project's ``LOGGING`` (already applied) must give it one.
    """
    settings = app.settings
    messages = []
    for layer, role in _roles(app):
        logger = getattr(layer.instance, "logger", None)
        if role != "access_log" or not isinstance(logger, logging.Logger):
            continue
        if (
            settings.LOGGING_CONFIG
            and settings.LOGGING is None
            and logger.name == "lback_mw.access"
        ):
            continue  # the default logging of run and serve writes it to stderr
        level = getattr(layer.instance, "level", logging.INFO)
        if logger.hasHandlers() and logger.isEnabledFor(level):
            continue
        messages.append(
            CheckMessage(
                "lback.W010",
                f"{layer_name(layer)} logs to {logger.name!r}, which has no handler at level "
                f"{logging.getLevelName(level)} once LOGGING is applied: no access line is "
                f"written. Add a handler for {logger.name!r} to LOGGING (docs/middlewares/"
                "access-log.md shows one), or remove the middleware.",
            )
        )
    return messages


#: The production checks, in the order their findings are printed.
DEPLOY_CHECKS: tuple[Callable[[App, int], list[CheckMessage]], ...] = (
    check_shared_state,
    check_secret_key_value,
    check_allowed_hosts,
    check_https_redirect,
    check_hsts,
    check_secure_cookies,
    check_metrics_token,
    check_access_log_handler,
)


def _roles(app: App) -> Iterator[tuple[Layer, str | None]]:
    for layer in app.chain:
        yield layer, getattr(layer.instance, "ordering_role", None)


def _hosts(app: App, layer: Layer) -> tuple[str, list[Any]]:
    if "allowed_hosts" in layer.params:
        return f"{layer.label}'s allowed_hosts", list(layer.params["allowed_hosts"])
    return "ALLOWED_HOSTS", list(app.settings.ALLOWED_HOSTS)
