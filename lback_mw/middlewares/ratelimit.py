"""Rate limiting: at most N requests per client per window, answered with 429.

Counters live in a backend (``memory://`` for one process, Redis for many; see
docs/backends.md), so every worker counts against the same limit.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import ConfigDict, with_config
from werkzeug.wrappers import Response as WerkzeugResponse

from .._imports import FunctionOrPath
from ..backends import (
    ALGORITHMS,
    BackendUnavailable,
    RateLimitPolicy,
    RateLimitResult,
    open_backend,
)
from ..backends.ratelimit import Algorithm
from ..exceptions import ImproperlyConfigured, did_you_mean
from ..paths import PathPattern, PathSet, compile_paths
from ..wrappers import Request, Response
from ._http import problem_response
from .base import BaseMiddleware

if sys.version_info >= (3, 12):
    from typing import TypedDict
else:  # pydantic refuses typing.TypedDict before 3.12; declared for those versions only
    from typing_extensions import TypedDict

if TYPE_CHECKING:
    from ..settings import Settings

#: Where the verdict of the current request is kept, for ``process_response``
#: (and for views that want to show it).
ENVIRON_KEY = "lback_mw.rate_limit"
#: A backend outage is logged at most this often (seconds), not once per request.
WARNING_INTERVAL = 10.0
DEFAULT_BACKEND = "memory://"

#: ``key_func(request)``: the counter's name, or ``None`` to not limit the request.
KeyFunction = Callable[[Request], str | None]
_KEY_FUNCTION = FunctionOrPath(
    "taking the request and returning a string (or None to not limit it)"
)


# Unknown keys are kept and every key is optional here, so that _rule() can name a
# typo or a missing key itself; pydantic's messages do not say which key it was.
@with_config(ConfigDict(extra="allow"))
class RateLimitRule(TypedDict, total=False):
    """One entry of ``rules``: a limit for some paths (and methods).

    ``path`` and ``limit`` are required.
    """

    #: A path pattern: ``"/login"`` (exactly this path) or ``"/api/*"`` (``/api``
    #: and every path under it); see docs/middleware.md, "Path patterns".
    path: str
    #: A rate such as ``"5/minute"``.
    limit: str
    #: Only these methods; all methods when absent.
    methods: list[str]
    #: Overrides the middleware's ``algorithm`` for this rule.
    algorithm: Algorithm


class RateLimitMiddleware(BaseMiddleware):
    """Counts each client's requests and answers 429 Too Many Requests over the limit.

    :param limit: the default rate, like ``"100/minute"``; or give ``max_requests``
        and ``window_seconds``. Without either, only ``rules`` limit anything.
    :param algorithm: ``"fixed_window"``, ``"sliding_window"`` or ``"token_bucket"``.
    :param key: count per ``"ip"`` (``request.remote_addr``) or per ``"user"``
        (``request.user.id`` when authenticated, else the IP).
    :param key_func: ``func(request) -> str | None``, or its dotted path, choosing
        the counter instead of ``key``; ``None`` from it means "do not limit".
    :param rules: per-path limits, first match wins (see :class:`RateLimitRule`).
    :param exempt_paths: paths never limited (``"/health"``, ``"/static/*"``).
    :param backend: the store's URL; default the ``RATELIMIT_BACKEND`` setting,
        else ``memory://``.
    :param fail_open: when the store is unreachable, let requests through (and
        log a warning) instead of answering 503.
    """

    ordering_role: ClassVar[str] = "rate_limit"

    def __init__(
        self,
        *,
        limit: str | None = None,
        max_requests: int | None = None,
        window_seconds: float | None = None,
        algorithm: Algorithm = "fixed_window",
        key: Literal["ip", "user"] | None = None,
        key_func: Annotated[KeyFunction | str, _KEY_FUNCTION] | None = None,
        rules: list[RateLimitRule] | None = None,
        exempt_paths: list[str] | None = None,
        backend: str | None = None,
        fail_open: bool = True,
        config: Settings | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        owner = type(self).__name__
        if algorithm not in ALGORITHMS:
            raise ImproperlyConfigured(
                f"{owner}: algorithm {algorithm!r} is not one of "
                f"{', '.join(map(repr, ALGORITHMS))}.{did_you_mean(algorithm, ALGORITHMS)}"
            )
        self.default_policy = _default_policy(owner, limit, max_requests, window_seconds, algorithm)
        self._default_counter = _counter_name("*", None, self.default_policy)
        #: (paths, methods or None, counter name, policy), in the order given.
        self.rules = [
            _rule(owner, index, rule, algorithm) for index, rule in enumerate(rules or ())
        ]
        if self.default_policy is None and not self.rules:
            raise ImproperlyConfigured(
                f"{owner}: no limit is configured. Give limit='100/minute' (or max_requests "
                "and window_seconds), or rules=[{'path': '/api/*', 'limit': '100/minute'}]."
            )
        self.exempt_paths = compile_paths(exempt_paths or [], f"{owner}: exempt_paths")
        self.key_func = _key_function(owner, key, key_func)

        url = backend or (config.RATELIMIT_BACKEND if config is not None else None)
        try:
            self.backend = open_backend(url or DEFAULT_BACKEND, purpose="rate limits")
        except ImproperlyConfigured as exc:
            source = "backend" if backend else "the RATELIMIT_BACKEND setting"
            raise ImproperlyConfigured(f"{owner}: {source}: {exc}") from exc
        self.fail_open = fail_open
        self.logger = logger or logging.getLogger(__name__)
        self._next_warning = 0.0

    def process_request(self, request: Request) -> WerkzeugResponse | None:
        path = request.path
        if path in self.exempt_paths:
            return None
        counter, policy = self._policy_for(path, request.method)
        if policy is None:
            return None
        client = self.key_func(request)
        if client is None:
            return None
        try:
            result = self.backend.hit(f"{counter}:{client}", policy)
        except BackendUnavailable as exc:
            return self._backend_down(exc)
        request.environ[ENVIRON_KEY] = result
        return None if result.allowed else _too_many_requests(result, policy)

    def process_response(self, request: Request, response: WerkzeugResponse) -> WerkzeugResponse:
        result: RateLimitResult | None = request.environ.get(ENVIRON_KEY)
        if result is not None:
            headers = response.headers
            headers["RateLimit-Limit"] = str(result.limit)
            headers["RateLimit-Remaining"] = str(result.remaining)
            headers["RateLimit-Reset"] = str(math.ceil(result.reset_after))
        return response

    def close(self) -> None:
        """Close the backend's connections."""
        self.backend.close()

    def _policy_for(self, path: str, method: str) -> tuple[str, RateLimitPolicy | None]:
        for paths, methods, counter, policy in self.rules:
            if path in paths and (methods is None or method in methods):
                return counter, policy
        return self._default_counter, self.default_policy

    def _backend_down(self, exc: BackendUnavailable) -> WerkzeugResponse | None:
        now = time.monotonic()
        if now >= self._next_warning:
            self._next_warning = now + WARNING_INTERVAL
            outcome = "letting requests through unlimited" if self.fail_open else "answering 503"
            self.logger.warning("Rate limiting is off, %s: %s", outcome, exc)
        if self.fail_open:
            return None
        return problem_response(
            503,
            "Rate limiting is unavailable, so the request was refused. Try again shortly.",
            {"Retry-After": "1"},
        )


def _default_policy(
    owner: str,
    limit: str | None,
    max_requests: int | None,
    window_seconds: float | None,
    algorithm: Algorithm,
) -> RateLimitPolicy | None:
    if limit is not None:
        if max_requests is not None or window_seconds is not None:
            raise ImproperlyConfigured(
                f"{owner}: give either limit ({limit!r}) or max_requests and window_seconds, "
                "not both."
            )
        try:
            return RateLimitPolicy.parse(limit, algorithm)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{owner}: parameter 'limit': {exc}") from exc
    if max_requests is None and window_seconds is None:
        return None
    if max_requests is None or window_seconds is None:
        missing = "window_seconds" if window_seconds is None else "max_requests"
        raise ImproperlyConfigured(
            f"{owner}: max_requests and window_seconds go together; {missing} is missing "
            "(or write limit='100/minute')."
        )
    try:
        return RateLimitPolicy(max_requests, window_seconds, algorithm)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{owner}: max_requests/window_seconds: {exc}") from exc


_RULE_KEYS = RateLimitRule.__annotations__.keys()


def _rule(
    owner: str, index: int, rule: RateLimitRule, algorithm: Algorithm
) -> tuple[PathSet, frozenset[str] | None, str, RateLimitPolicy]:
    where = f"{owner}: rules[{index}]"
    if not isinstance(rule, dict):
        raise ImproperlyConfigured(
            f"{where} must be a dict like {{'path': '/api/*', 'limit': '100/minute'}}, "
            f"not {rule!r}."
        )
    for unknown in rule.keys() - _RULE_KEYS:
        raise ImproperlyConfigured(
            f"{where} has an unknown key {unknown!r}; a rule takes "
            f"{', '.join(map(repr, _RULE_KEYS))}.{did_you_mean(unknown, _RULE_KEYS)}"
        )
    for required in ("path", "limit"):
        if required not in rule:
            raise ImproperlyConfigured(
                f"{where} has no {required!r}; a rule needs 'path' and 'limit', like "
                "{'path': '/api/*', 'limit': '100/minute'}."
            )
    paths = PathSet([PathPattern.parse(rule["path"], f"{where}: path")])
    try:
        policy = RateLimitPolicy.parse(rule["limit"], rule.get("algorithm", algorithm))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{where}: {exc}") from exc
    methods = rule.get("methods")
    if isinstance(methods, str):
        raise ImproperlyConfigured(f"{where}: methods must be a list, like [{methods!r}].")
    method_set = frozenset(method.upper() for method in methods) if methods else None
    if method_set is not None and "GET" in method_set:
        # The router answers HEAD with the GET view (the body is only dropped):
        # a GET limit that let HEAD through would not limit that view at all.
        method_set |= {"HEAD"}
    return paths, method_set, _counter_name(rule["path"], method_set, policy), policy


def _counter_name(path: str, methods: frozenset[str] | None, policy: RateLimitPolicy | None) -> str:
    """Named after what the rule is, not its position: reordering rules does not mix
    counters, a changed rate starts afresh, and two middlewares with different rates
    on one backend never share a counter."""
    rate = f"{policy.limit}/{policy.window:g}" if policy is not None else "-"
    return f"{path}:{','.join(sorted(methods or ()))}:{rate}"


def _key_function(owner: str, key: str | None, key_func: KeyFunction | str | None) -> KeyFunction:
    if key not in (None, "ip", "user"):
        raise ImproperlyConfigured(f"{owner}: key must be 'ip' or 'user', not {key!r}.")
    if key_func is None:
        return _user_key if key == "user" else _ip_key
    if key is not None:
        raise ImproperlyConfigured(f"{owner}: give key ({key!r}) or key_func, not both.")
    # params already imported a dotted path; one given in Python is imported here.
    return _KEY_FUNCTION.resolve(key_func, f"{owner}: key_func")


def client_ip(request: Request) -> str:
    """The client's address as the server (or werkzeug's ``ProxyFix``) reports it.

    Never a raw ``X-Forwarded-For``, which any client can forge. An IPv6 client
    counts as its /64 network: one host usually holds a whole /64 and could
    otherwise take a fresh address for every request.
    """
    address = request.remote_addr or "unknown"
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


def _ip_key(request: Request) -> str:
    return f"ip:{client_ip(request)}"


def _user_key(request: Request) -> str:
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", True):
        user_id = user if isinstance(user, str | int) else getattr(user, "id", None)
        if user_id is not None:
            return f"user:{user_id}"
    return _ip_key(request)


def _too_many_requests(result: RateLimitResult, policy: RateLimitPolicy) -> Response:
    retry_after = max(1, math.ceil(result.retry_after))
    return problem_response(
        429,
        f"The rate limit of {policy.describe()} was exceeded; "
        f"retry in {retry_after} second{'s' if retry_after != 1 else ''}.",
        {"Retry-After": str(retry_after)},
    )
